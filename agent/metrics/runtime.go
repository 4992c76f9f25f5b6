package metrics

// The go_* and process_* series: the subset of client_golang's Go and
// process collectors that dashboards use, with the same names, types and
// meanings, read at each scrape. docs/metrics.md lists them.

import (
	"bytes"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// gauge and counter build a one-sample family.
func gauge(name, help string, v float64) snapshotFamily {
	return snapshotFamily{name: name, help: help, typ: typeGauge, samples: []sample{{v: v}}}
}

func counter(name, help string, v float64) snapshotFamily {
	return snapshotFamily{name: name, help: help, typ: typeCounter, samples: []sample{{v: v}}}
}

// goFamilies reads the Go runtime's figures. ReadMemStats stops the world
// for a few microseconds, once per scrape, as client_golang did.
func goFamilies() []snapshotFamily {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threads, _ := runtime.ThreadCreateProfile(nil)
	rm := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}, {Name: "/sched/gomaxprocs:threads"}}
	metrics.Read(rm)
	fams := []snapshotFamily{
		gcDurations(),
		gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine())),
		gauge("go_threads", "Number of OS threads created.", float64(threads)),
		{name: "go_info", help: "Information about the Go environment.", typ: typeGauge,
			samples: []sample{{labels: []label{{"version", runtime.Version()}}, v: 1}}},
		gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", float64(ms.HeapAlloc)),
		counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", float64(ms.TotalAlloc)),
		gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys)),
		counter("go_memstats_mallocs_total", "Total number of heap objects allocated, both live and gc-ed.", float64(ms.Mallocs)),
		counter("go_memstats_frees_total", "Total number of heap objects frees.", float64(ms.Frees)),
		gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(ms.HeapAlloc)),
		gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys)),
		gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle)),
		gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse)),
		gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased)),
		gauge("go_memstats_heap_objects", "Number of currently allocated objects.", float64(ms.HeapObjects)),
		gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments.", float64(ms.StackInuse)),
		gauge("go_memstats_stack_sys_bytes", "Number of bytes obtained from system for stack allocator.", float64(ms.StackSys)),
		gauge("go_memstats_mspan_inuse_bytes", "Number of bytes in use by mspan structures.", float64(ms.MSpanInuse)),
		gauge("go_memstats_mspan_sys_bytes", "Number of bytes used for mspan structures obtained from system.", float64(ms.MSpanSys)),
		gauge("go_memstats_mcache_inuse_bytes", "Number of bytes in use by mcache structures.", float64(ms.MCacheInuse)),
		gauge("go_memstats_mcache_sys_bytes", "Number of bytes used for mcache structures obtained from system.", float64(ms.MCacheSys)),
		gauge("go_memstats_buck_hash_sys_bytes", "Number of bytes used by the profiling bucket hash table.", float64(ms.BuckHashSys)),
		gauge("go_memstats_gc_sys_bytes", "Number of bytes used for garbage collection system metadata.", float64(ms.GCSys)),
		gauge("go_memstats_other_sys_bytes", "Number of bytes used for other system allocations.", float64(ms.OtherSys)),
		gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC)),
		gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9),
	}
	for i, f := range []struct{ name, help string }{
		{"go_gc_gogc_percent", "Heap size target percentage configured by the user, otherwise 100 (-1 while the daemon is idle, see docs/metrics.md)."},
		{"go_gc_gomemlimit_bytes", "Go runtime memory limit configured by the user, otherwise math.MaxInt64."},
		{"go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting."},
	} {
		if rm[i].Value.Kind() == metrics.KindUint64 {
			fams = append(fams, gauge(f.name, f.help, float64(int64(rm[i].Value.Uint64()))))
		}
	}
	return fams
}

// gcDurations is the go_gc_duration_seconds summary: the minimum,
// quartiles and maximum of the recent stop-the-world pauses.
func gcDurations() snapshotFamily {
	var st debug.GCStats
	st.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&st)
	f := snapshotFamily{name: "go_gc_duration_seconds", typ: typeSummary,
		help: "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles."}
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		f.samples = append(f.samples, sample{labels: []label{{"quantile", q}}, v: st.PauseQuantiles[i].Seconds()})
	}
	f.samples = append(f.samples, sample{suffix: "_sum", v: st.PauseTotal.Seconds()}, sample{suffix: "_count", v: float64(st.NumGC)})
	return f
}

// processFamilies reads /proc/self like client_golang's process
// collector; nothing when /proc is not there.
func processFamilies() []snapshotFamily {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return nil
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: f[0] is field 3 (state) of proc(5).
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 22 {
		return nil
	}
	num := func(i int) float64 { v, _ := strconv.ParseUint(f[i], 10, 64); return float64(v) }
	const ticks = 100 // USER_HZ
	fams := []snapshotFamily{
		counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", (num(11)+num(12))/ticks),
		gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", num(20)),
		gauge("process_resident_memory_bytes", "Resident memory size in bytes.", num(21)*float64(os.Getpagesize())),
	}
	if boot := bootTime(); boot > 0 {
		fams = append(fams, gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", boot+num(19)/ticks))
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		fams = append(fams, gauge("process_open_fds", "Number of open file descriptors.", float64(len(fds))))
	}
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil {
		fams = append(fams, gauge("process_max_fds", "Maximum number of open file descriptors.", float64(rl.Cur)))
	}
	if syscall.Getrlimit(syscall.RLIMIT_AS, &rl) == nil {
		fams = append(fams, gauge("process_virtual_memory_max_bytes", "Maximum amount of virtual memory available in bytes.", float64(rl.Cur)))
	}
	return fams
}

// bootTime is btime from /proc/stat: the boot time in Unix seconds.
func bootTime() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return n
		}
	}
	return 0
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the CPU times in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports for this tool.
const clockTicks = 100

// procSample is what /proc tells about one process at one instant.
type procSample struct {
	// cpuTicks is utime+stime+cutime+cstime: the process's own CPU time
	// plus that of its children it has reaped (helpers it forks).
	cpuTicks int64
	// runs is the sum over its threads of schedstat's "timeslices run",
	// i.e. how often a thread was put on a CPU: the wake-up count.
	runs int64
	// runNs is the sum over its threads of schedstat's time on CPU, in
	// nanoseconds: finer than the 10 ms ticks of cpuTicks, but threads
	// that exited are missing from it.
	runNs int64
	// ctxsw is the sum over its threads of voluntary and involuntary
	// context switches.
	ctxsw int64
	rssKB int64
	hwmKB int64
	// rssFileKB and rssAnonKB split VmRSS: pages of the binary (and
	// other files) versus the heap, stacks and runtime.
	rssFileKB, rssAnonKB int64
	// pssKB is the proportional set size from smaps_rollup: shared
	// pages (the binary's, when several processes map it) count for
	// their share only. -1 when the kernel does not provide it.
	pssKB   int64
	threads int
}

func sampleProc(pid int) (procSample, error) {
	var s procSample
	base := filepath.Join("/proc", strconv.Itoa(pid))
	stat, err := os.ReadFile(filepath.Join(base, "stat"))
	if err != nil {
		return s, err
	}
	// The command name is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("unexpected %s/stat", base)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 15 {
		return s, fmt.Errorf("short %s/stat", base)
	}
	for _, idx := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		v, err := strconv.ParseInt(f[idx], 10, 64)
		if err != nil {
			return s, err
		}
		s.cpuTicks += v
	}
	st, err := readStatus(filepath.Join(base, "status"))
	if err != nil {
		return s, err
	}
	s.rssKB, s.hwmKB = st["VmRSS"], st["VmHWM"]
	s.rssFileKB, s.rssAnonKB = st["RssFile"], st["RssAnon"]
	s.pssKB = -1
	if roll, err := readStatus(filepath.Join(base, "smaps_rollup")); err == nil {
		if v, ok := roll["Pss"]; ok {
			s.pssKB = v
		}
	}
	tasks, _ := filepath.Glob(filepath.Join(base, "task", "*"))
	for _, t := range tasks {
		s.threads++
		if b, err := os.ReadFile(filepath.Join(t, "schedstat")); err == nil {
			if ff := strings.Fields(string(b)); len(ff) == 3 {
				ns, _ := strconv.ParseInt(ff[0], 10, 64)
				n, _ := strconv.ParseInt(ff[2], 10, 64)
				s.runNs += ns
				s.runs += n
			}
		}
		if ts, err := readStatus(filepath.Join(t, "status")); err == nil {
			s.ctxsw += ts["voluntary_ctxt_switches"] + ts["nonvoluntary_ctxt_switches"]
		}
	}
	return s, nil
}

// readStatus returns the numeric fields of a /proc status file (kB units
// are dropped).
func readStatus(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

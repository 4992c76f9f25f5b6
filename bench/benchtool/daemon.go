package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// daemon is a process started with NOTIFY_SOCKET pointing at a datagram
// socket this tool listens on, as systemd would for Type=notify.
type daemon struct {
	cmd     *exec.Cmd
	conn    *net.UnixConn
	dir     string
	started time.Time
	ready   chan time.Time
	exited  chan error
	// pings counts the WATCHDOG=1 datagrams received: with WATCHDOG_USEC
	// in its environment the daemon pings as it would under systemd.
	pings atomic.Int64
}

// startDaemon execs argv with its output appended to logPath.
func startDaemon(argv []string, logPath string) (*daemon, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command given after --")
	}
	dir, err := os.MkdirTemp("", "benchtool-notify-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	d := &daemon{conn: conn, dir: dir, ready: make(chan time.Time, 1), exited: make(chan error, 1)}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	if logPath != "" {
		lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			d.cleanup()
			return nil, err
		}
		defer lf.Close()
		d.cmd.Stdout, d.cmd.Stderr = lf, lf
	}
	go d.listen()
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		d.cleanup()
		return nil, err
	}
	go func() { d.exited <- d.cmd.Wait() }()
	return d, nil
}

// listen records the arrival of the first READY=1 and counts the
// watchdog pings; it drains every datagram, as systemd would.
func (d *daemon) listen() {
	buf := make([]byte, 4096)
	sent := false
	for {
		n, err := d.conn.Read(buf)
		if err != nil {
			return
		}
		at := time.Now()
		for _, line := range strings.Split(string(buf[:n]), "\n") {
			if line == "READY=1" && !sent {
				d.ready <- at
				sent = true
			}
			if line == "WATCHDOG=1" {
				d.pings.Add(1)
			}
		}
	}
}

// waitReady returns when READY=1 arrived, with the time it took from exec.
func (d *daemon) waitReady(timeout time.Duration) (time.Duration, error) {
	select {
	case at := <-d.ready:
		return at.Sub(d.started), nil
	case err := <-d.exited:
		d.exited <- err
		return 0, fmt.Errorf("%s exited before READY=1: %v", d.cmd.Path, err)
	case <-time.After(timeout):
		return 0, fmt.Errorf("%s sent no READY=1 within %s", d.cmd.Path, timeout)
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM, then SIGKILL after 10 s, and cleans up.
func (d *daemon) stop() {
	defer d.cleanup()
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
	}
}

func (d *daemon) cleanup() {
	d.conn.Close()
	os.RemoveAll(d.dir)
}

// daemonFlags are shared by the subcommands that start the daemon.
type daemonFlags struct {
	log     *string
	timeout *time.Duration
}

func addDaemonFlags(fs *flag.FlagSet) daemonFlags {
	return daemonFlags{
		log:     fs.String("log", "", "append the daemon's output to this file"),
		timeout: fs.Duration("timeout", 5*time.Minute, "how long to wait for READY=1"),
	}
}

// startReady starts the daemon named by args and waits for READY=1; the
// caller stops it. took is the time from exec to READY.
func (df daemonFlags) startReady(args []string) (d *daemon, took time.Duration, err error) {
	d, err = startDaemon(args, *df.log)
	if err != nil {
		return nil, 0, err
	}
	if took, err = d.waitReady(*df.timeout); err != nil {
		d.stop()
		return nil, 0, err
	}
	return d, took, nil
}

// cmdReady measures exec → READY=1 and the peak RSS at that moment.
func cmdReady(args []string) error {
	fs := flag.NewFlagSet("ready", flag.ContinueOnError)
	df := addDaemonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, took, err := df.startReady(fs.Args())
	if err != nil {
		return err
	}
	defer d.stop()
	s, err := sampleProc(d.pid())
	if err != nil {
		return err
	}
	fmt.Printf("ready_ms=%.1f\nhwm_kb=%d\nrss_kb=%d\npss_kb=%d\ncpu_s=%.2f\n",
		float64(took.Microseconds())/1000, s.hwmKB, s.rssKB, s.pssKB, float64(s.cpuTicks)/clockTicks)
	return nil
}

// cmdIdle measures a process's CPU time, wake-ups and RSS over a window:
// either an existing -pid, or a daemon it starts and waits READY for. A
// daemon started with WATCHDOG_USEC in this tool's environment inherits
// it; its WATCHDOG=1 pings are counted (pings=, 0 for -pid).
func cmdIdle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ContinueOnError)
	pid := fs.Int("pid", 0, "existing process to observe")
	window := fs.Duration("for", time.Minute, "observation window")
	windows := fs.Int("windows", 5, "split the window into this many equal parts, each reported")
	settle := fs.Duration("settle", 3*time.Second, "wait after READY=1 before the window opens")
	df := addDaemonFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	pings := func() int64 { return 0 }
	if *pid == 0 {
		d, _, err := df.startReady(fs.Args())
		if err != nil {
			return err
		}
		defer d.stop()
		time.Sleep(*settle)
		*pid = d.pid()
		pings = d.pings.Load
	}
	// Consecutive windows give a median and a spread from one long run.
	var total procSample
	var first procSample
	var last procSample
	var err error
	if first, err = sampleProc(*pid); err != nil {
		return err
	}
	last = first
	began, pings0 := time.Now(), pings()
	lastPings := pings0
	for w := 1; w <= *windows; w++ {
		start := time.Now()
		time.Sleep(*window / time.Duration(*windows))
		cur, err := sampleProc(*pid)
		if err != nil {
			return fmt.Errorf("process %d during the window: %w", *pid, err)
		}
		p := pings()
		fmt.Printf("window=%d secs=%.1f cpu_sched_ms=%.2f cpu_ticks_s=%.2f wakeups=%d ctxsw=%d rss_kb=%d pss_kb=%d rss_file_kb=%d rss_anon_kb=%d pings=%d\n", w,
			time.Since(start).Seconds(), float64(cur.runNs-last.runNs)/1e6, float64(cur.cpuTicks-last.cpuTicks)/clockTicks,
			cur.runs-last.runs, cur.ctxsw-last.ctxsw, cur.rssKB, cur.pssKB, cur.rssFileKB, cur.rssAnonKB, p-lastPings)
		last, lastPings = cur, p
	}
	total = last
	fmt.Printf("total secs=%.1f cpu_sched_ms=%.2f cpu_ticks_s=%.2f wakeups=%d ctxsw=%d rss_kb=%d pss_kb=%d hwm_kb=%d threads=%d pings=%d\n",
		time.Since(began).Seconds(), float64(total.runNs-first.runNs)/1e6, float64(total.cpuTicks-first.cpuTicks)/clockTicks,
		total.runs-first.runs, total.ctxsw-first.ctxsw, total.rssKB, total.pssKB, total.hwmKB, total.threads, lastPings-pings0)
	return nil
}

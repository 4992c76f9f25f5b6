package testbin

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// NoBusEnv points D-Bus clients at a socket that does not exist, so unit
// actions are deterministically "service manager unavailable" and stay
// pending, whatever the host runs. Daemons get it unless
// DaemonOptions.SystemBus; one-shot runs add it to their env themselves.
const NoBusEnv = "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/certagent-test-no-bus"

// StopGrace is how long Stop waits after SIGTERM before it kills.
const StopGrace = 15 * time.Second

// DaemonOptions adjust StartDaemon. The zero value is a daemon with the
// test's environment and no D-Bus.
type DaemonOptions struct {
	// Env is added to the test's environment (NAME=value).
	Env []string
	// SystemBus leaves DBUS_SYSTEM_BUS_ADDRESS alone, so the daemon acts
	// on the host's units. Without it the daemon gets NoBusEnv.
	SystemBus bool
}

// Daemon is a running long-lived process (normally `certagent run`)
// whose stderr log is collected line by line, without a line length
// limit: a long line neither ends the capture nor blocks the process on a
// full pipe. It dies with the test process (parent-death signal) and is
// killed at the end of its test; a failed test gets its log attached.
// Its methods are safe to call from the test's goroutines.
type Daemon struct {
	t    testing.TB
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	read chan struct{} // closed when stderr has been read to its end

	waitOnce sync.Once
	waitErr  error
}

// StartDaemon starts binary with args, e.g. bin, "run", "--config", path.
func StartDaemon(t testing.TB, opts DaemonOptions, binary string, args ...string) *Daemon {
	t.Helper()
	d := &Daemon{t: t, cmd: exec.Command(binary, args...), read: make(chan struct{})}
	d.cmd.Env = append(os.Environ(), opts.Env...)
	if !opts.SystemBus {
		d.cmd.Env = append(d.cmd.Env, NoBusEnv)
	}
	// The kernel kills the daemon when the test process dies (a panic,
	// a -timeout, ^C), so no daemon outlives its test run.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go d.capture(stderr)
	t.Cleanup(func() {
		d.Kill()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.shortText())
		}
	})
	return d
}

// capture reads r to its end, one line at a time. bufio.Reader grows to
// fit any line, where a bufio.Scanner would stop at its buffer size and
// leave the daemon blocked writing to a pipe nobody reads.
func (d *Daemon) capture(r io.Reader) {
	defer close(d.read)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
			d.mu.Lock()
			d.log = append(d.log, line)
			d.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

// Text is the log so far, lines joined by "\n".
func (d *Daemon) Text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.log, "\n")
}

// shortText is Text with each line cut to 4 KiB, for failure reports.
func (d *Daemon) shortText() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b strings.Builder
	for _, l := range d.log {
		if len(l) > 4<<10 {
			l = fmt.Sprintf("%s... (%d bytes)", l[:4<<10], len(l))
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// Lines returns the log lines that contain every one of subs.
func (d *Daemon) Lines(subs ...string) []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
next:
	for _, l := range d.log {
		for _, s := range subs {
			if !strings.Contains(l, s) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

// Count is how many log lines contain every one of subs.
func (d *Daemon) Count(subs ...string) int { return len(d.Lines(subs...)) }

// Await waits until at least n log lines contain every one of subs and
// returns those lines. It fails the test after within, or as soon as the
// daemon has exited without logging them.
func (d *Daemon) Await(n int, within time.Duration, subs ...string) []string {
	d.t.Helper()
	what := fmt.Sprintf("%d log lines with %q", n, subs)
	Eventually(d.t, within, what, func() bool {
		if d.Count(subs...) >= n {
			return true
		}
		select {
		case <-d.read:
			if d.Count(subs...) < n {
				d.t.Fatalf("the daemon's log ended (it exited) before %s", what)
			}
			return true
		default:
			return false
		}
	})
	return d.Lines(subs...)
}

// Alive reports whether the daemon process is still running.
func (d *Daemon) Alive() bool {
	select {
	case <-d.read:
		return false
	default:
		return d.cmd.Process.Signal(syscall.Signal(0)) == nil
	}
}

// Pid is the daemon's process id (for /proc/PID reads).
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Signal sends sig to the daemon, failing the test if it cannot.
func (d *Daemon) Signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal daemon: %v", err)
	}
}

// Stop sends SIGTERM and waits for the exit, killing the daemon after
// StopGrace. It returns how long the daemon took and how it exited (nil
// for status 0); after the first call it returns at once.
func (d *Daemon) Stop() (time.Duration, error) {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.read:
	case <-time.After(StopGrace):
		_ = d.cmd.Process.Kill()
	}
	err := d.wait()
	return time.Since(start), err
}

// Kill ends the daemon with SIGKILL (a no-op once it has exited) and
// reaps it.
func (d *Daemon) Kill() {
	_ = d.cmd.Process.Kill()
	_ = d.wait()
}

// wait reaps the process once its log has been read to the end, or once
// StopGrace has passed: a child that inherited stderr (a hook) may hold
// the pipe open after the daemon is gone.
func (d *Daemon) wait() error {
	d.waitOnce.Do(func() {
		select {
		case <-d.read:
		case <-time.After(StopGrace):
		}
		d.waitErr = d.cmd.Wait()
	})
	return d.waitErr
}

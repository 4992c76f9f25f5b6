// Package faults proves certagent under faults, bad input and attack
// (issue 7): crash injection at scale, disk faults, clock jumps, a
// bad-config corpus run through the real binary, bad files on disk,
// planted symlinks, secret hygiene and a 1,000-cert load. Every test runs
// the real binary (or the real agent package) on temp dirs and loopback.
//
// Each fault test prints a one-line figure. `go test` hides the output of
// passing tests, so figures also go to .cache/fault-figures.txt at the
// repository root (override with CERTAGENT_FIGURES).
package faults

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// bin is the release build of certagent; failpointBin is built with
// -tags failpoint for crash injection.
var bin, failpointBin string

// noBus points D-Bus clients at a socket that does not exist, so unit
// actions are deterministically "service manager unavailable" and stay
// pending, whatever the host runs.
const noBus = "DBUS_SYSTEM_BUS_ADDRESS=unix:path=/nonexistent/certagent-faults-no-bus"

func TestMain(m *testing.M) {
	b := testbin.MustBuild(true)
	bin, failpointBin = b.Release, b.Failpoint
	openFigures()
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

var figures struct {
	mu sync.Mutex
	f  *os.File
}

func openFigures() {
	p := os.Getenv("CERTAGENT_FIGURES")
	if p == "" {
		p = filepath.Join("..", "..", ".cache", "fault-figures.txt")
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err == nil {
		figures.f = f
	}
}

// figure prints one result line: to the test log, to stderr (visible
// with -v) and to the figures file (visible always).
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf(format, args...)
	t.Log(line)
	fmt.Fprintln(os.Stderr, line)
	figures.mu.Lock()
	defer figures.mu.Unlock()
	if figures.f != nil {
		fmt.Fprintf(figures.f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), line)
	}
}

// needRoot skips when the test needs root (mounts, chown); under CI,
// which runs as root, it fails instead of passing silently.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test needs root and CI runs as root")
		}
		t.Skip("needs root (mounts, chown, other users); run test/all.sh as root")
	}
}

// result is one finished certagent run.
type result struct {
	code           int
	stdout, stderr string
	maxRSSKiB      int64
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runBin runs a certagent binary to completion with extra env vars; its
// output is kept for the secret-hygiene scan.
func runBin(t *testing.T, binary string, env []string, args ...string) result {
	t.Helper()
	r := testbin.Exec(t, 3*time.Minute, append([]string{noBus}, env...), binary, args...)
	collectLog(r.Stdout, r.Stderr)
	return result{code: r.Code, stdout: r.Stdout, stderr: r.Stderr, maxRSSKiB: r.MaxRSSKiB}
}

func certagent(t *testing.T, args ...string) result {
	t.Helper()
	return runBin(t, bin, nil, args...)
}

// env is a temp host layout: a config, a state dir and an output dir.
type env struct {
	dir, config, state, out string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := t.TempDir()
	e := &env{dir: d, config: filepath.Join(d, "certagent.toml"), state: filepath.Join(d, "state"), out: filepath.Join(d, "tls")}
	// Harvest the keys this test produced before TempDir removes them,
	// so the secret scan knows what must never appear in a log.
	t.Cleanup(func() { harvestKeys(d) })
	return e
}

// expand replaces {{state}}, {{out}} and {{dir}} in a config template.
func (e *env) expand(tmpl string) string {
	return strings.NewReplacer("{{state}}", e.state, "{{out}}", e.out, "{{dir}}", e.dir).Replace(tmpl)
}

func (e *env) write(t *testing.T, tmpl string) {
	t.Helper()
	if err := os.WriteFile(e.config, []byte(e.expand(tmpl)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) path(name string) string { return filepath.Join(e.out, name) }

// daemon is a running `certagent run` whose stderr log is collected.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	done chan struct{}
}

func startDaemon(t *testing.T, e *env) *daemon {
	t.Helper()
	d := &daemon{t: t, cmd: exec.Command(bin, "run", "--config", e.config), done: make(chan struct{})}
	d.cmd.Env = append(os.Environ(), noBus)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.log = append(d.log, sc.Text())
			d.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		<-d.done
		_ = d.cmd.Wait()
		collectLog(d.text())
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.text())
		}
	})
	return d
}

func (d *daemon) text() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.log, "\n")
}

// lines returns the log lines containing every one of subs.
func (d *daemon) lines(subs ...string) []string {
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

func (d *daemon) count(subs ...string) int { return len(d.lines(subs...)) }

// await waits until at least n log lines contain all of subs.
func (d *daemon) await(n int, within time.Duration, subs ...string) {
	d.t.Helper()
	eventually(d.t, within, fmt.Sprintf("%d log lines with %q", n, subs), func() bool { return d.count(subs...) >= n })
}

// alive reports whether the daemon process is still running.
func (d *daemon) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return d.cmd.Process.Signal(syscall.Signal(0)) == nil
	}
}

func (d *daemon) signal(sig os.Signal) {
	d.t.Helper()
	if err := d.cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signal daemon: %v", err)
	}
}

// eventually polls cond until it holds or within elapses.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testbin.Eventually(t, within, what, cond)
}

// noPanic fails when output shows a Go panic or a goroutine dump.
func noPanic(t *testing.T, what, output string) {
	t.Helper()
	for _, bad := range []string{"panic:", "goroutine ", "runtime error", "SIGSEGV"} {
		if strings.Contains(output, bad) {
			t.Errorf("%s: output contains %q:\n%s", what, bad, output)
		}
	}
}

// mountTmpfs mounts a fresh tmpfs of size (e.g. "64m") on dir, unmounted
// at test end. Root only.
func mountTmpfs(t *testing.T, dir, size string, extra ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	opts := "size=" + size + ",mode=0755"
	for _, o := range extra {
		opts += "," + o
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", opts, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		harvestKeys(dir)
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
}

// remount changes the mount options of the tmpfs on dir (e.g. "ro").
func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s %s: %v\n%s", dir, opts, err, out)
	}
}

// runTool runs an external command; it returns an error with its output.
func runTool(t *testing.T, name string, args ...string) error {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		return fmt.Errorf("%s: %w", name, errNoTool)
	}
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

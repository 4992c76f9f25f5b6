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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// bin is the release build of certagent; failpointBin is built with
// -tags failpoint for crash injection.
var bin, failpointBin string

// noBus points D-Bus clients at a socket that does not exist, so unit
// actions are deterministically "service manager unavailable" and stay
// pending, whatever the host runs (daemons get it from testbin).
const noBus = testbin.NoBusEnv

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

// env is a temp host layout, testbin.Host under the names the fault
// tests use: the fields are the Host's, the methods forward to it.
type env struct {
	dir, config, state, out string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	h := testbin.NewHost(t)
	// Harvest the keys this test produced before TempDir removes them,
	// so the secret scan knows what must never appear in a log.
	t.Cleanup(func() { harvestKeys(h.Dir) })
	return &env{dir: h.Dir, config: h.Config, state: h.State, out: h.Out}
}

func (e *env) host() *testbin.Host {
	return &testbin.Host{Dir: e.dir, Config: e.config, State: e.state, Out: e.out}
}

// expand replaces {{state}}, {{out}} and {{dir}} in a config template.
func (e *env) expand(tmpl string) string { return e.host().Expand(tmpl) }

func (e *env) write(t *testing.T, tmpl string) {
	t.Helper()
	e.host().WriteConfig(t, tmpl)
}

func (e *env) path(name string) string { return e.host().Path(name) }

// daemon is testbin's Daemon (no D-Bus, killed at test end, its log
// captured whole). The lower-case methods below only forward, under the
// names the fault tests call.
type daemon struct {
	*testbin.Daemon
	t *testing.T
}

// startDaemon runs `certagent run` on e's config. Its log joins the
// secret-hygiene scan once it has exited.
func startDaemon(t *testing.T, e *env) *daemon {
	t.Helper()
	d := &daemon{testbin.StartDaemon(t, testbin.DaemonOptions{}, bin, "run", "--config", e.config), t}
	t.Cleanup(func() {
		d.Kill()
		collectLog(d.Text())
	})
	return d
}

// Forwarding names (see daemon).
func (d *daemon) text() string                  { return d.Text() }
func (d *daemon) lines(subs ...string) []string { return d.Lines(subs...) }
func (d *daemon) count(subs ...string) int      { return d.Count(subs...) }
func (d *daemon) await(n int, within time.Duration, subs ...string) {
	d.t.Helper()
	d.Await(n, within, subs...)
}
func (d *daemon) alive() bool { return d.Alive() }
func (d *daemon) signal(sig os.Signal) {
	d.t.Helper()
	d.Signal(sig)
}

// eventually is testbin.Eventually, under the name the fault tests call.
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

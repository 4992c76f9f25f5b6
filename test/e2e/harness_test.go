// Package e2e runs the real certagent binary on temp configs and checks
// what it writes with real TLS peers (openssl, crypto/tls).
package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// bin is the certagent binary under test; failpointBin is the same built
// with -tags failpoint for crash injection.
var bin, failpointBin string

func TestMain(m *testing.M) {
	b := testbin.MustBuild(true)
	bin, failpointBin = b.Release, b.Failpoint
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

// needTool skips (or, under CI, fails) when an external peer is missing.
func needTool(t *testing.T, name string) string { return testbin.NeedTool(t, name) }

// result is one finished certagent run.
type result struct {
	code           int
	stdout, stderr string
}

// certagent runs the binary to completion.
func certagent(t *testing.T, args ...string) result {
	t.Helper()
	r := testbin.Exec(t, 2*time.Minute, nil, bin, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

// run executes an external command and fails the test on error.
func run(t *testing.T, name string, args ...string) string { return testbin.Run(t, name, args...) }

// env is a temp host layout: a config, a state dir and an output dir.
type env struct {
	dir, config, state, out string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	d := t.TempDir()
	return &env{dir: d, config: filepath.Join(d, "certagent.toml"), state: filepath.Join(d, "state"), out: filepath.Join(d, "tls")}
}

// write renders the config with {{state}} and {{out}} replaced.
func (e *env) write(t *testing.T, tmpl string) {
	t.Helper()
	s := strings.NewReplacer("{{state}}", e.state, "{{out}}", e.out).Replace(tmpl)
	if err := os.WriteFile(e.config, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (e *env) path(name string) string { return filepath.Join(e.out, name) }

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func init() {
	if runtime.GOOS != "linux" {
		panic("certagent e2e tests need Linux")
	}
}

// daemon is a running `certagent run` whose stderr log is collected.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	log  []string
	done chan struct{}
}

// startDaemon runs the daemon on e's config; it is killed at test end.
func startDaemon(t *testing.T, e *env) *daemon {
	t.Helper()
	d := &daemon{t: t, cmd: exec.Command(bin, "run", "--config", e.config), done: make(chan struct{})}
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

// count is how many log lines contain substr.
func (d *daemon) count(substr string) int {
	return strings.Count(d.text(), substr)
}

// await waits until at least n log lines contain substr.
func (d *daemon) await(substr string, n int, within time.Duration) {
	d.t.Helper()
	eventually(d.t, within, fmt.Sprintf("%d log lines with %q", n, substr), func() bool { return d.count(substr) >= n })
}

// stop sends SIGTERM and waits; it returns the exit error and how long
// the daemon took.
func (d *daemon) stop() (error, time.Duration) {
	start := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.done
	err := d.cmd.Wait()
	return err, time.Since(start)
}

// eventually polls cond until it holds or within elapses.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	testbin.Eventually(t, within, what, cond)
}

// Package testbin is the one test harness of the end-to-end suites
// (test/e2e, test/acme, test/faults, test/recipes): the certagent binary
// built once per package (Build), one-shot runs (Exec), a long-running
// daemon with its log captured (StartDaemon, Daemon.Await), and the
// lookups of external peers (NeedTool, OpenSSL) that skip a test, or fail
// it under CI. Unit tests of product packages use the peer lookups too.
// Only tests import it; it imports nothing of certagent.
package testbin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Binaries are the builds of cmd/certagent under test.
type Binaries struct {
	// Release is the normal build; CERTAGENT_TEST_BIN overrides it (to
	// test a prebuilt binary, e.g. from a clean checkout).
	Release string
	// Failpoint is built with -tags failpoint (empty unless asked for).
	Failpoint string
	dir       string
}

// Build compiles cmd/certagent into a temp dir, and the failpoint build
// too when failpoint is true.
func Build(failpoint bool) (*Binaries, error) {
	dir, err := os.MkdirTemp("", "certagent-test-bin-")
	if err != nil {
		return nil, err
	}
	b := &Binaries{dir: dir, Release: os.Getenv("CERTAGENT_TEST_BIN")}
	builds := map[string]*string{}
	if b.Release == "" {
		b.Release = filepath.Join(dir, "certagent")
		builds[""] = &b.Release
	}
	if failpoint {
		b.Failpoint = filepath.Join(dir, "certagent-failpoint")
		builds["failpoint"] = &b.Failpoint
	}
	for tags, out := range builds {
		cmd := exec.Command("go", "build", "-tags="+tags, "-o", *out, "github.com/certagent/certagent/cmd/certagent")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("build certagent (tags %q): %w", tags, err)
		}
	}
	return b, nil
}

// Remove deletes the builds.
func (b *Binaries) Remove() { os.RemoveAll(b.dir) }

// MustBuild is Build for TestMain: it exits the test binary on failure.
func MustBuild(failpoint bool) *Binaries {
	b, err := Build(failpoint)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	return b
}

// Missing skips t because a prerequisite is absent, or fails it under CI
// (CI=true), where test/all.sh must have installed everything.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (required in CI; test/setup.d installs it)", msg)
	}
	t.Skipf("%s; run test/all.sh as root to install it", msg)
}

// NeedTool returns the path of an external program, or skips/fails t.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed", name)
	}
	return p
}

// OpenSSL returns the path of the openssl binary, the real TLS peer most
// tests check files with; see NeedTool.
func OpenSSL(t testing.TB) string {
	t.Helper()
	return NeedTool(t, "openssl")
}

// Run executes a program (for at most two minutes) and returns its
// combined output; any failure fails the test with that output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Eventually polls cond every 20 ms until it holds, failing t after within.
func Eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Result is one finished run of a binary under test.
type Result struct {
	Code           int
	Stdout, Stderr string
	Took           time.Duration
	MaxRSSKiB      int64
}

// Exec runs binary with args to completion within timeout, with env added
// to the test's environment. A run that cannot start, or outlives the
// timeout, fails t; a non-zero exit is reported in Code.
func Exec(t testing.TB, timeout time.Duration, env []string, binary string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s %v did not finish within %s\n%s", filepath.Base(binary), args, timeout, r.Stderr)
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run %s %v: %v", filepath.Base(binary), args, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.MaxRSSKiB = ru.Maxrss
	}
	return r
}

// SyncBuffer collects a child process's output: exec's copier writes it
// while the test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes returns a copy of everything written so far.
func (b *SyncBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// PinnedTool returns the path of a tool test/setup.d installs at a pinned
// version (step-ca, step): $CERTAGENT_TOOLS first, then the repository's
// .cache/bin, then $PATH. Otherwise it skips t, or fails it under CI,
// naming script, the setup fragment that installs it.
func PinnedTool(t testing.TB, name, script string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("CERTAGENT_TOOLS"); d != "" {
		dirs = append(dirs, d)
	}
	if root, ok := repoRoot(); ok {
		dirs = append(dirs, filepath.Join(root, ".cache", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	Missing(t, "%s not found in $CERTAGENT_TOOLS, .cache/bin or $PATH (%s)", name, script)
	return ""
}

// repoRoot is the nearest directory above the working directory (a test's
// package directory) that holds go.mod.
func repoRoot() (string, bool) {
	d, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

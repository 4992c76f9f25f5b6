// Package e2e runs the real certagent binary on temp configs and checks
// what it writes with real TLS peers (openssl, crypto/tls).
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// bin is the certagent binary under test; failpointBin is the same built
// with -tags failpoint for crash injection.
var bin, failpointBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "certagent-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "certagent")
	failpointBin = filepath.Join(dir, "certagent-failpoint")
	for _, b := range []struct{ out, tags string }{{bin, ""}, {failpointBin, "failpoint"}} {
		cmd := exec.Command("go", "build", "-tags="+b.tags, "-o", b.out, "github.com/certagent/certagent/cmd/certagent")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build certagent:", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool skips (or, under CI, fails) when an external peer is missing.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is required in CI (test/setup.d installs it)", name)
		}
		t.Skipf("%s not installed; run test/all.sh as root to install it", name)
	}
	return p
}

// result is one finished certagent run.
type result struct {
	code           int
	stdout, stderr string
}

// certagent runs the binary to completion.
func certagent(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run certagent %v: %v", args, err)
	}
	return result{code, out.String(), errb.String()}
}

// run executes an external command and fails the test on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

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

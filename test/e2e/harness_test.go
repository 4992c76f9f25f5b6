// Package e2e runs the real certagent binary on temp configs and checks
// what it writes with real TLS peers (openssl, crypto/tls).
package e2e

import (
	"os"
	"runtime"
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

// env is a temp host layout (see testbin.Host).
type env struct{ *testbin.Host }

func newEnv(t *testing.T) *env { return &env{testbin.NewHost(t)} }

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

// startDaemon runs `certagent run` on e's config; it is killed at test
// end (see testbin.Daemon).
func startDaemon(t *testing.T, e *env) *testbin.Daemon {
	t.Helper()
	return testbin.StartDaemon(t, testbin.DaemonOptions{}, bin, "run", "--config", e.Config)
}

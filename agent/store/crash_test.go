package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

const crashCerts = 4

// buildCrashHelper builds internal/crashhelper with -tags failpoint.
func buildCrashHelper(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if _, err := os.Stat(goBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("go toolchain not found to build the crash helper: %v", err)
		}
		t.Skipf("go toolchain not found to build the crash helper: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "crashhelper")
	cmd := exec.Command(goBin, "build", "-tags", "failpoint", "-o", bin, "./internal/crashhelper")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build crash helper: %v\n%s", err, out)
	}
	return bin
}

// crashRig is one state dir and output tree shared by many helper runs.
type crashRig struct {
	bin, state, out string
	serials         map[string]string // cert -> cert.pem bytes seen last time
	torn, delivered int
}

// run starts the helper; kill decides when (after "ready") to SIGKILL it,
// or nil to let a failpoint do it. It returns the helper's stderr.
func (r *crashRig) run(t *testing.T, env string, kill *time.Duration) string {
	t.Helper()
	cmd := exec.Command(r.bin, "-state", r.state, "-out", r.out, "-certs", strconv.Itoa(crashCerts))
	cmd.Env = append(os.Environ(), "CERTAGENT_FAILPOINT="+env)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				close(ready)
			}
		}
	}()
	if kill != nil {
		select {
		case <-ready:
			time.Sleep(*kill)
		case <-time.After(30 * time.Second):
			t.Log("helper never became ready")
		}
		_ = cmd.Process.Kill() // SIGKILL
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper ended with %v, want a SIGKILL; stderr:\n%s", err, stderr.String())
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper status %v, want SIGKILL; stderr:\n%s", ws, stderr.String())
	}
	return stderr.String()
}

// check recovers like a restarted agent and asserts every pair is whole,
// nothing is left over, and each changed pair has its pending action.
func (r *crashRig) check(t *testing.T) {
	t.Helper()
	s, err := Open(r.state, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s.Recover(r.allowed())
	if err != nil {
		t.Fatalf("Recover: %v", err)
	}
	if len(rep.Refused) > 0 {
		t.Fatalf("Recover refused records the helper wrote: %v", rep.Refused)
	}
	pending, err := s.PendingIntents()
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashCerts {
		name := fmt.Sprintf("c%d", i)
		dir := filepath.Join(r.out, name)
		key, kerr := os.ReadFile(filepath.Join(dir, "key.pem"))
		cert, cerr := os.ReadFile(filepath.Join(dir, "cert.pem"))
		full, ferr := os.ReadFile(filepath.Join(dir, "fullchain.pem"))
		if kerr != nil && cerr != nil && ferr != nil {
			continue // never written yet
		}
		if kerr != nil || cerr != nil || ferr != nil || !pairMatches(key, cert) || !bytes.Equal(full, append(append([]byte{}, cert...), cert...)) {
			r.torn++
			t.Errorf("%s: torn set (key %v, cert %v, fullchain %v, match %v)", name, kerr, cerr, ferr, pairMatches(key, cert))
			continue
		}
		for f, want := range map[string]uint32{"key.pem": 0o600, "cert.pem": 0o644, "fullchain.pem": 0o644} {
			if m := statT(t, filepath.Join(dir, f)).Mode & 0o7777; m != want {
				t.Errorf("%s/%s mode %04o, want %04o", name, f, m, want)
			}
		}
		in := Intent{Unit: "u-" + name + ".service", Action: "restart", Cert: name}
		if string(cert) != r.serials[name] {
			if !slices.Contains(pending, in) {
				t.Errorf("%s changed on disk but no pending action was recorded", name)
			}
			r.serials[name] = string(cert)
		}
		if slices.Contains(pending, in) {
			r.delivered++
			if err := s.DoneIntent(in); err != nil {
				t.Fatal(err)
			}
		}
		assertNoTemps(t, dir)
	}
	if ents, _ := os.ReadDir(filepath.Join(r.state, stagingDir)); len(ents) != 0 {
		t.Errorf("staging leftovers after Recover: %d", len(ents))
	}
	assertNoJournal(t, s)
	assertNoTemps(t, r.state, filepath.Join(r.state, journalDir))
}

// allowed is what the helper's commits write and queue (its allowed()).
func (r *crashRig) allowed() Allowed {
	allow := Allowed{}
	for i := range crashCerts {
		name := fmt.Sprintf("c%d", i)
		var files []File
		for _, base := range []string{"key.pem", "cert.pem", "fullchain.pem"} {
			files = append(files, File{Path: filepath.Join(r.out, name, base)})
		}
		allow[name] = allowFiles(name, files, []Intent{{Unit: "u-" + name + ".service", Action: "restart", Cert: name}})[name]
	}
	return allow
}

// TestCrashAnyInstant SIGKILLs a real process that commits sets, at each
// failpoint and at random instants, and checks the invariant after each.
func TestCrashAnyInstant(t *testing.T) {
	bin := buildCrashHelper(t)
	base := t.TempDir()
	r := &crashRig{bin: bin, state: filepath.Join(base, "state"), out: filepath.Join(base, "out"), serials: map[string]string{}}

	points := []string{"store-after-temps", "store-after-journal", "store-after-first-rename", "store-after-renames"}
	for _, p := range points {
		for _, nth := range []int{1, 6} {
			spec := fmt.Sprintf("%s=%d", p, nth)
			stderr := r.run(t, spec, nil)
			if !strings.Contains(stderr, "failpoint: "+p+" fired") {
				t.Fatalf("%s: helper was not killed by the failpoint; stderr:\n%s", spec, stderr)
			}
			r.check(t)
		}
	}

	iterations := 120
	if testing.Short() {
		iterations = 20
	}
	if v, err := strconv.Atoi(os.Getenv("CERTAGENT_CRASH_ITERATIONS")); err == nil && v > 0 {
		iterations = v
	}
	for range iterations {
		d := time.Duration(rand.Int64N(int64(40 * time.Millisecond)))
		r.run(t, "", &d)
		r.check(t)
		if t.Failed() {
			break
		}
	}
	t.Logf("crash: %d kills (%d at failpoints), %d torn sets, %d actions delivered after restart",
		iterations+2*len(points), 2*len(points), r.torn, r.delivered)
}

package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/testbin"
)

// crashConfig manages n certs on the local CA.
func crashConfig(n int) string {
	var b strings.Builder
	b.WriteString("[agent]\nstate_dir = \"{{state}}\"\nlog_level = \"warn\"\n\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\n[certs.c%d]\nissuer = \"ca\"\ndns_names = [\"c%d.example.com\"]\nvalidity = \"30d\"\n", i, i)
		fmt.Fprintf(&b, "cert_file = \"{{out}}/c%d/cert.pem\"\nkey_file = \"{{out}}/c%d/key.pem\"\nfullchain_file = \"{{out}}/c%d/full.pem\"\n", i, i, i)
	}
	return b.String()
}

// TestCrashAtAnyInstantKeepsPairsConsistent SIGKILLs forced renewals at
// random instants and at the dangerous failpoints, lets the next start
// recover (and stop right after recovery), and checks every pair.
func TestCrashAtAnyInstantKeepsPairsConsistent(t *testing.T) {
	openssl := testbin.NeedTool(t, "openssl")
	const certs = 6
	iterations := 40
	if v, err := strconv.Atoi(os.Getenv("CERTAGENT_CRASH_ITERATIONS")); err == nil {
		iterations = v
	}
	if testing.Short() {
		iterations = 10
	}
	e := newEnv(t)
	e.WriteConfig(t, crashConfig(certs))
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("initial renew: exit %d\n%s", r.code, r.stderr)
	}
	points := []string{"store-after-temps", "store-after-journal", "store-after-first-rename", "store-after-renames", "agent-after-commit"}
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	kills, torn := 0, 0
	for i := 0; i < iterations; i++ {
		cmd := exec.Command(failpointBin, "renew", "--force", "--config", e.Config)
		if i%3 == 0 {
			// The n-th hit, so kills land on different certs of the pass.
			cmd.Env = append(os.Environ(), fmt.Sprintf("CERTAGENT_FAILPOINT=%s=%d", points[rng.IntN(len(points))], 1+rng.IntN(certs)))
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i%3 != 0 {
			time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		if err := cmd.Wait(); err != nil {
			kills++
		}
		// The next start recovers the state dir, then stops right there.
		rec := exec.Command(failpointBin, "renew", "--config", e.Config)
		rec.Env = append(os.Environ(), "CERTAGENT_FAILPOINT=agent-after-recover")
		_ = rec.Run()
		for c := 0; c < certs; c++ {
			if err := pairMatches(e.Path(fmt.Sprintf("c%d/cert.pem", c)), e.Path(fmt.Sprintf("c%d/key.pem", c))); err != nil {
				torn++
				t.Errorf("iteration %d: c%d: %v", i, c, err)
			}
		}
		if left, _ := os.ReadDir(filepath.Join(e.State, "staging")); len(left) != 0 {
			t.Errorf("iteration %d: staging leftovers after recovery: %v", i, left)
		}
		assertNoTemps(t, e.Out)
	}
	for c := 0; c < certs; c++ {
		testbin.Run(t, openssl, "x509", "-noout", "-in", e.Path(fmt.Sprintf("c%d/cert.pem", c)))
		testbin.Run(t, openssl, "pkey", "-noout", "-in", e.Path(fmt.Sprintf("c%d/key.pem", c)))
		if got := mode(t, e.Path(fmt.Sprintf("c%d/key.pem", c))); got != 0o600 {
			t.Errorf("c%d key mode %04o after crashes", c, got)
		}
	}
	t.Logf("crash: %d iterations, %d kills, %d torn pairs", iterations, kills, torn)
}

func pairMatches(certFile, keyFile string) error {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	kb, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	certs, err := pki.ParseCertsPEM(cb)
	if err != nil {
		return fmt.Errorf("cert: %w", err)
	}
	key, err := pki.ParseKeyPEM(kb)
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if !pki.KeyMatches(certs[0], key) {
		return fmt.Errorf("key does not match cert (serial %x)", certs[0].SerialNumber)
	}
	return nil
}

// assertNoTemps fails on any certagent temp file under dir.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".") && !info.IsDir() {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
}

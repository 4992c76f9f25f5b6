package e2e

import (
	"crypto/x509"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// rotationPoints are the failpoints of a rotation and of the commits it
// drives (ca_file-only commits and re-issues).
var rotationPoints = []string{
	"rotation-after-next-key", "rotation-before-record", "rotation-after-reissue", "rotation-after-retire",
	"rotation-after-swap", "rotation-mid-swap", "rotation-after-cleanup", "rotation-before-record-removed",
	"store-after-temps", "store-after-journal", "store-after-first-rename", "store-after-renames", "agent-after-commit",
}

// TestCARotationSurvivesKills SIGKILLs `certagent ca rotate` and the
// `certagent renew` passes that carry rotations on, at random instants
// and at the rotation's failpoints, until at least 50 kills landed. After
// every kill and the next start's recovery: the rotation record parses
// (the state is resumable), every pair matches, and every cert's ca_file
// holds the root of every leaf in use (its own and its peers'). At the
// end the rotations run to completion.
func TestCARotationSurvivesKills(t *testing.T) {
	const n = 3
	minKills := 50
	if v, err := strconv.Atoi(os.Getenv("CERTAGENT_ROTATION_KILLS")); err == nil {
		minKills = v
	}
	e := newEnv(t)
	e.WriteConfig(t, rotationConfig(n, "2s"))
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("first renew: exit %d\n%s", r.code, r.stderr)
	}
	firstRoot := leafOf(t, e.Path("c0/ca.pem"))
	rng := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	kills, completed, rotating := 0, 0, false
	for i := 0; kills < minKills; i++ {
		if i > 20*minKills {
			t.Fatalf("only %d kills in %d runs", kills, i)
		}
		phase := rotationPhase(t, e)
		if rotating && phase == "" {
			completed++
		}
		rotating = phase != ""
		args := []string{"renew", "--config", e.Config}
		if phase == "" {
			args = []string{"ca", "rotate", "--config", e.Config, "ca"}
		}
		cmd := exec.Command(failpointBin, args...)
		if i%2 == 0 {
			cmd.Env = append(os.Environ(), fmt.Sprintf("CERTAGENT_FAILPOINT=%s=%d", rotationPoints[rng.IntN(len(rotationPoints))], 1+rng.IntN(n)))
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if i%2 != 0 {
			time.Sleep(time.Duration(rng.IntN(250)) * time.Millisecond)
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		var ee *exec.ExitError
		if err := cmd.Wait(); errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signaled() {
			kills++
		}
		rec := exec.Command(failpointBin, "renew", "--config", e.Config)
		rec.Env = append(os.Environ(), "CERTAGENT_FAILPOINT=agent-after-recover")
		_ = rec.Run()
		checkRotationInvariants(t, e, n, fmt.Sprintf("run %d (%v, phase before %q)", i, args[0], phase))
		assertNoTemps(t, filepath.Join(e.State, "ca")) // a CA key's temp copy must not outlive a kill
		if t.Failed() {
			t.FailNow()
		}
	}
	// Resumable: plain passes finish whatever rotation is under way.
	for j := 0; rotationPhase(t, e) != ""; j++ {
		if j > 100 {
			t.Fatalf("the rotation did not finish after the kills; phase %s", rotationPhase(t, e))
		}
		time.Sleep(200 * time.Millisecond)
		if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
			t.Fatalf("renew after the kills: exit %d\n%s", r.code, r.stderr)
		}
	}
	checkRotationInvariants(t, e, n, "after the last rotation")
	if r := certagent(t, "status", "--config", e.Config); r.code != 0 {
		t.Errorf("status after the kills: exit %d\n%s", r.code, r.stderr)
	}
	if completed == 0 || leafOf(t, e.Path("c0/ca.pem")).Equal(firstRoot) {
		t.Errorf("no rotation completed under the kills (%d); the CA was not rotated", completed)
	}
	t.Logf("rotation crash: %d kills, %d rotations completed under kills", kills, completed)
}

// checkRotationInvariants: every pair matches, and every ca_file holds
// the root of every cert_file's leaf.
func checkRotationInvariants(t *testing.T, e *env, n int, when string) {
	t.Helper()
	leaves := make([]*x509.Certificate, n)
	for i := 0; i < n; i++ {
		cert, key := e.Path(fmt.Sprintf("c%d/cert.pem", i)), e.Path(fmt.Sprintf("c%d/key.pem", i))
		if err := pairMatches(cert, key); err != nil {
			t.Errorf("%s: c%d: %v", when, i, err)
			return
		}
		leaves[i] = leafOf(t, cert)
	}
	for i := 0; i < n; i++ {
		b, err := os.ReadFile(e.Path(fmt.Sprintf("c%d/ca.pem", i)))
		if err != nil {
			t.Errorf("%s: c%d ca_file: %v", when, i, err)
			continue
		}
		roots, err := pki.ParseCertsPEM(b)
		if err != nil {
			t.Errorf("%s: c%d ca_file: %v", when, i, err)
			continue
		}
		pool := x509.NewCertPool()
		for _, r := range roots {
			pool.AddCert(r)
		}
		for j, leaf := range leaves {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
				t.Errorf("%s: c%d's ca_file (%d roots) lacks the root of c%d's leaf in use: %v", when, i, len(roots), j, err)
			}
		}
	}
	assertNoTemps(t, e.Out)
}

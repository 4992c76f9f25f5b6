package acme_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// TestShortlivedProfile is case 3: profile = "shortlived" yields Pebble's
// 6-day cert; the daemon plans its renewal at half the lifetime (minus
// at most 10% jitter), status --json says the same, and neither the daemon
// nor a later `certagent renew` issues again. ARI is off so the lifetime
// policy decides (with ARI, Pebble's window decides; see case 2).
func TestShortlivedProfile(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	off := false
	e.write(t, srv, issuerOpts{profile: "shortlived", ari: &off}, certOpts{name: "short", dnsNames: []string{"short.example.com"}})

	d := startDaemon(t, e)
	issued := logEntries(d.Await(1, 60*time.Second, event("issued")))
	leaf := e.leaf(t, "short")
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	if life < pebbletest.ShortlivedValidity-time.Hour || life > pebbletest.ShortlivedValidity+time.Hour {
		t.Fatalf("lifetime %s, want about %s", life, pebbletest.ShortlivedValidity)
	}
	verifyChain(t, srv, e, "short")
	half := leaf.NotBefore.Add(life / 2)
	tol := time.Duration(0.11 * float64(life))
	logged, err := time.Parse(time.RFC3339, issued[0].str("next_renewal"))
	if err != nil || !near(logged, half, tol) {
		t.Errorf("issued entry next_renewal %q, want %s ± %s", issued[0].str("next_renewal"), half, tol)
	}
	// The daemon has written status.json by the time it is idle again.
	// The state is "expiring": 6 days is less than warn_before (14d).
	var row statusRow
	testbin.Eventually(t, 10*time.Second, "status --json with the issued serial", func() bool {
		row = e.status(t, "short")
		return row.Serial == leaf.SerialNumber.Text(16) && row.State != "renewing"
	})
	if row.Failures != 0 || row.State == "due" || row.State == "failed" {
		t.Errorf("status --json: state %s, %d failures", row.State, row.Failures)
	}
	if !near(row.NextRenewal, half, tol) {
		t.Errorf("status --json next_renewal %s, want NotBefore + lifetime/2 = %s ± %s", row.NextRenewal, half, tol)
	}

	time.Sleep(3 * time.Second) // a loop would issue again within this
	if n := d.Count(event("issued")) + d.Count(event("renewed")); n != 1 {
		t.Errorf("daemon issued %d times, want 1 (loop?)", n)
	}
	d.Stop()
	before := e.snapshot(t, "short")
	mustRun(t, "renew", "--config", e.Config)
	after := e.snapshot(t, "short")
	for f := range before {
		if !bytes.Equal(before[f], after[f]) {
			t.Errorf("renew without --force rewrote %s of a cert that is not due", f)
		}
	}
	summary("case 3 shortlived: lifetime %s, next_renewal NotBefore+%s (half = %s, jitter %s), no re-issue",
		life, row.NextRenewal.Sub(leaf.NotBefore).Round(time.Minute), (life / 2).Round(time.Minute),
		half.Sub(row.NextRenewal).Round(time.Minute))
}

package acme_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// replacedLog is what Pebble v2.10.1 logs when an order's replaces field
// names a cert it issued.
const replacedLog = "has been marked as replaced"

// setWindow overrides Pebble's ARI answer for the cert on disk.
func setWindow(t *testing.T, srv *pebbletest.Server, e *env, cert string, start, end time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.SetRenewalInfo(ctx, e.leaf(t, cert), start, end); err != nil {
		t.Fatal(err)
	}
}

// TestARIWindowNowRenewsEarly is case 2a: a 90-day cert, a day old at
// most, whose ARI window Pebble says is now: the daemon logs the chosen
// time with the ARI reason, renews at once with replaces (Pebble marks
// the old order replaced), and then does not renew again.
func TestARIWindowNowRenewsEarly(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "ari", dnsNames: []string{"ari.example.com"}})
	mustRun(t, "renew", "--config", e.Config)
	issuedAt := time.Now()
	first := e.leaf(t, "ari")
	now := time.Now().Truncate(time.Second)
	setWindow(t, srv, e, "ari", now.Add(-10*time.Minute), now)

	d := startDaemon(t, e)
	renewed := logEntries(d.Await(1, 60*time.Second, event("renewed")))
	renewedAfter := time.Since(issuedAt)
	var chosen []logEntry
	entries, _ := parseLog(d.Text())
	for _, en := range entries {
		if en.str("@message") == "renewal time chosen" && en.str("cert") == "ari" {
			chosen = append(chosen, en)
		}
	}
	if len(chosen) == 0 || !strings.Contains(chosen[0].str("reason"), "ARI window") {
		t.Fatalf("no \"renewal time chosen\" entry with the ARI reason before the renewal: %v", chosen)
	}
	if at, err := time.Parse(time.RFC3339, chosen[0].str("renew_at")); err != nil || at.After(now) || at.Before(now.Add(-10*time.Minute)) {
		t.Errorf("renew_at %q is not inside the window %s..%s", chosen[0].str("renew_at"), now.Add(-10*time.Minute), now)
	}
	second := e.leaf(t, "ari")
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("event=renewed but cert.pem is unchanged")
	}
	verifyChain(t, srv, e, "ari")
	if n := srv.CountLog(replacedLog); n != 1 {
		t.Errorf("Pebble marked %d orders replaced, want 1 (replaces not sent?)", n)
	}
	// The new cert gets Pebble's own window (two thirds into 90 days):
	// no second renewal follows.
	time.Sleep(3 * time.Second)
	if n := d.Count(event("renewed")); n != 1 {
		t.Errorf("%d renewals, want 1 (loop?)", n)
	}
	summary("case 2a ARI window now: 90-day cert renewed by the daemon %s after its issuance (%d renewal), reason %q, Pebble replaced=%d",
		renewedAfter.Round(100*time.Millisecond), len(renewed), chosen[0].str("reason"), srv.CountLog(replacedLog))
}

// TestARIWindowInFutureWaits is case 2b: with the window 20 days ahead
// the daemon schedules inside it and does not renew during the test.
func TestARIWindowInFutureWaits(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "later", dnsNames: []string{"later.example.com"}})
	mustRun(t, "renew", "--config", e.Config)
	first := e.leaf(t, "later")
	start := time.Now().Add(20 * 24 * time.Hour).Truncate(time.Second)
	end := start.Add(24 * time.Hour)
	setWindow(t, srv, e, "later", start, end)

	d := startDaemon(t, e)
	var at time.Time
	testbin.Eventually(t, 20*time.Second, "renewal time chosen from ARI", func() bool {
		entries, _ := parseLog(d.Text())
		for _, en := range entries {
			if en.str("@message") == "renewal time chosen" && strings.Contains(en.str("reason"), "ARI window") {
				at, _ = time.Parse(time.RFC3339, en.str("renew_at"))
				return true
			}
		}
		return false
	})
	if at.Before(start) || at.After(end) {
		t.Errorf("renew_at %s outside the window %s..%s", at, start, end)
	}
	time.Sleep(4 * time.Second)
	entries, _ := parseLog(d.Text())
	for _, en := range entries {
		if en.str("@message") == "renewal due" || en.str("event") == "renewed" {
			t.Errorf("renewed although the ARI window is 20 days ahead: %v", en)
		}
	}
	if got := e.leaf(t, "later"); got.SerialNumber.Cmp(first.SerialNumber) != 0 {
		t.Error("cert.pem changed")
	}
	if n := srv.CountLog(replacedLog); n != 0 {
		t.Errorf("Pebble marked %d orders replaced, want 0", n)
	}
	row := e.status(t, "later")
	if row.NextRenewal.Before(start) || row.NextRenewal.After(end) {
		t.Errorf("status --json next_renewal %s is not the daemon's ARI time %s (window %s..%s)",
			row.NextRenewal, at, start, end)
	}
	summary("case 2b ARI window in 20 days: renew_at %s chosen inside it, no renewal in 4 s", at.UTC().Format(time.RFC3339))
}

package agent

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestExpiryWarningOncePerDay runs the daemon loop for 9.5 fake days on a
// 10-day cert renewed 1 day before expiry (minus jitter): its warning
// horizon is a third of its lifetime (shorter than warn_before), so it
// warns from day 6.7, once a day, until the renewal; the capped timers keep the
// loop turning without a hot loop.
func TestExpiryWarningOncePerDay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ta := newTestAgent(t, `
[agent]
state_dir = "{{dir}}/state"
warn_before = "14d"
[issuers.ca]
type = "local"
[certs.det]
issuer = "ca"
dns_names = ["det.example.com"]
validity = "10d"
renew_before = "1d"
cert_file = "{{dir}}/out/det.pem"
key_file = "{{dir}}/out/det.key"
`)
		start := time.Now()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ta.Run(ctx) }()
		time.Sleep(9*24*time.Hour + 12*time.Hour)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		logs := ta.logs()
		// The renewal falls between day 8 and day 9 (the 10% jitter
		// keyed by this state dir's seed): one warning a day from day 6.7
		// until then.
		seed, _, err := ta.st.SpreadSeed()
		if err != nil {
			t.Fatal(err)
		}
		renewAt, _ := RenewAt(Policy{Name: "det", Seed: seed, Before: 24 * time.Hour}, start, start.Add(10*24*time.Hour), nil)
		warnFrom := start.Add(10 * 24 * time.Hour / 3 * 2)
		want := int((renewAt.Sub(warnFrom) + 24*time.Hour - 1) / (24 * time.Hour))
		if n := strings.Count(logs, "event=expiring"); n != want || want < 2 {
			t.Fatalf("%d expiry warnings, want %d (one a day from day 6.7 to the renewal at %s):\n%s", n, want, renewAt, logs)
		}
		if !strings.Contains(logs, "[WARN]  certificate expires soon") {
			t.Fatal("expiry warning not at WARN level")
		}
		if n := ta.iss.count("det"); n != 2 {
			t.Fatalf("issued %d times in 9.5 days, want 2 (the first and the renewal at day 9)", n)
		}
	})
}

package agent

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestExpiryWarningOncePerDay runs the daemon loop for three fake days on a
// cert that is inside warn_before from the start: one WARNING a day, and
// the capped timers keep the loop turning without a hot loop.
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
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- ta.Run(ctx) }()
		time.Sleep(72*time.Hour - time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		logs := ta.logs()
		if n := strings.Count(logs, "event=expiring"); n != 3 {
			t.Fatalf("%d expiry warnings in three days, want 3 (one a day):\n%s", n, logs)
		}
		if !strings.Contains(logs, "[WARN]  certificate expires soon") {
			t.Fatal("expiry warning not at WARN level")
		}
		if n := ta.iss.count("det"); n != 1 {
			t.Fatalf("issued %d times in three days, want 1", n)
		}
	})
}

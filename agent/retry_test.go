package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// stepClock is a Clock the test moves by hand.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordedRow is name's row in status.json as last written.
func (ta *testAgent) recordedRow(t *testing.T, name string) CertStatus {
	t.Helper()
	b, err := ta.st.ReadStatus()
	if err != nil {
		t.Fatal(err)
	}
	var sf StatusFile
	if err := json.Unmarshal(b, &sf); err != nil {
		t.Fatal(err)
	}
	for _, r := range sf.Certs {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("status.json has no %s:\n%s", name, b)
	return CertStatus{}
}

// TestRollbackRetryAtIsHonoured: a forced one-shot renewal of d (not due:
// its cert has weeks left) is rolled back. The retry time it logs is the
// one status.json records, the daemon adopts that time (not d's policy
// renewal time weeks later), and at that time the daemon tries again; the
// unit accepts the new cert now and d is ok.
func TestRollbackRetryAtIsHonoured(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	clk := &stepClock{t: time.Now()}
	ta.clock = clk
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.rs.failOnce = map[string]error{"other.service": errors.New("unit other.service failed: Result=exit-code")}
	once, err := New(Options{Config: ta.cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: ta.st,
		Restarter: ta.rs, Logger: hclog.NewNullLogger(), Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := once.RenewOnce(ctx, []string{"d"}, true); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("forced one-shot renew with a failing unit: %v, want a rollback", err)
	}
	logged := once.certs["d"].retryAt // what the rollback's retry_at says
	// Full jitter: the first failure's retry is anywhere in (0, BackoffMin].
	if d := logged.Sub(clk.Now()); d <= 0 || d > BackoffMin {
		t.Fatalf("rollback retry_at in %s, want within %s", d, BackoffMin)
	}
	if got := ta.recordedRow(t, "d").NextRenewal; !got.Equal(logged.UTC()) {
		t.Fatalf("status.json next_renewal %s, but the rollback logged retry_at %s", got, logged)
	}
	issued := ta.iss.count("d")
	ta.pass(ctx, passOptions{}) // the daemon adopts the failure
	if r := ta.row(t, "d"); r.State != StateFailed || !r.NextRenewal.Equal(logged.UTC()) {
		t.Fatalf("daemon after the one-shot's rollback: state %s, next_renewal %s; want failed, %s", r.State, r.NextRenewal, logged)
	}
	if n := ta.iss.count("d") - issued; n != 0 {
		t.Fatalf("d issued %d times before its retry time", n)
	}
	clk.add(logged.Sub(clk.Now()) + time.Second)
	ta.pass(ctx, passOptions{})
	if n := ta.iss.count("d") - issued; n != 1 {
		t.Fatalf("d issued %d times once its retry time passed, want 1", n)
	}
	if r := ta.row(t, "d"); r.State != StateOK || r.Failures != 0 {
		t.Fatalf("after the retry d is %s with %d failures (%s), want ok", r.State, r.Failures, r.LastError)
	}
}

// TestForeignRecoveryAdopted: the daemon rolled d back and shows it
// failed. After the operator fixed the unit, a plain one-shot renew finds
// d's cert fine and records that; the daemon adopts the recovery instead
// of writing "failed" again.
func TestForeignRecoveryAdopted(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.rs.failOnce = map[string]error{"other.service": errors.New("unit other.service failed: Result=exit-code")}
	ta.pass(ctx, passOptions{force: map[string]bool{"d": true}})
	if r := ta.recordedRow(t, "d"); r.State != StateFailed {
		t.Fatalf("after the daemon's rollback d is recorded %s, want failed", r.State)
	}
	if err := ta.oneShot(t).RenewOnce(ctx, []string{"d"}, false); err != nil {
		t.Fatalf("plain one-shot renew after the fix: %v", err)
	}
	if r := ta.recordedRow(t, "d"); r.State != StateOK {
		t.Fatalf("the one-shot recorded d %s, want ok", r.State)
	}
	ta.pass(ctx, passOptions{})
	if r := ta.recordedRow(t, "d"); r.State != StateOK || r.Failures != 0 || r.LastError != "" {
		t.Fatalf("the daemon wrote d back as %s (%d failures, %q) after the one-shot's recovery", r.State, r.Failures, r.LastError)
	}
}

// TestForeignRowsOfOtherCertsAreNoRecovery: `renew a` beside a daemon that
// has d failing writes a row for d it never looked at (no serial); the
// daemon keeps d's failure.
func TestForeignRowsOfOtherCertsAreNoRecovery(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.rs.failOnce = map[string]error{"other.service": errors.New("unit other.service failed")}
	ta.pass(ctx, passOptions{force: map[string]bool{"d": true}})
	if err := ta.oneShot(t).RenewOnce(ctx, []string{"a"}, false); err != nil {
		t.Fatal(err)
	}
	ta.pass(ctx, passOptions{})
	if r := ta.row(t, "d"); r.State != StateFailed {
		t.Fatalf("d is %s after a one-shot renew of a, want still failed", r.State)
	}
}

// TestRollbackThatDoesNotHelpSaysSo: the unit fails on the previous
// certificate too; the error says the new certificate is not the cause
// and never that the unit failed with the new certificate.
func TestRollbackThatDoesNotHelpSaysSo(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.rs.fail["other.service"] = errors.New("unit other.service failed: Result=exit-code")
	err := ta.RenewOnce(ctx, []string{"d"}, true)
	const want = "other.service fails with the previous certificate as well; the new certificate is not the cause"
	r := ta.row(t, "d")
	if err == nil || !strings.Contains(r.LastError, want) || strings.Contains(r.LastError, "with the new certificate") {
		t.Fatalf("renew: %v; last_error %q; want it to say %q", err, r.LastError, want)
	}
	if !strings.Contains(ta.logs(), want) {
		t.Fatalf("the journal does not say %q:\n%s", want, ta.logs())
	}
}

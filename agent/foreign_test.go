package agent

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// oneShot is a second agent on the same config, issuer and state dir, as
// a `certagent renew` run beside the daemon is.
func (ta *testAgent) oneShot(t *testing.T) *Agent {
	t.Helper()
	a, err := New(Options{Config: ta.cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: ta.st, Restarter: ta.rs, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (ta *testAgent) row(t *testing.T, name string) CertStatus {
	t.Helper()
	for _, r := range ta.Snapshot() {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no status row for %s", name)
	return CertStatus{}
}

// TestForeignRenewClearsFailure: the daemon failed to renew a (CA down);
// a one-shot renew beside it then succeeds. The daemon's next look at the
// files finds the new valid cert and drops the failure, instead of
// showing "failed" with a stale backoff until its next own renewal.
func TestForeignRenewClearsFailure(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.iss.setErr(errors.New("ca down"))
	if err := ta.RenewOnce(ctx, []string{"a"}, true); err == nil {
		t.Fatal("renew succeeded with a failing issuer")
	}
	if r := ta.row(t, "a"); r.State != StateFailed {
		t.Fatalf("after the failure a is %q, want failed", r.State)
	}
	ta.iss.setErr(nil) // the CA is back
	if err := ta.oneShot(t).RenewOnce(ctx, []string{"a"}, true); err != nil {
		t.Fatalf("one-shot renew: %v", err)
	}
	ta.pass(ctx, passOptions{dirty: map[string]bool{"a": true}}) // the watcher saw a's files change
	r := ta.row(t, "a")
	if r.State != StateOK || r.Failures != 0 || r.LastError != "" || r.Serial != serialOf(t, filepath.Join(ta.dir, "out/a.pem")) {
		t.Fatalf("after the one-shot's renewal the daemon shows %+v, want ok with the new serial", r)
	}
}

// TestForeignRollbackAdopted: a one-shot renew beside the daemon rolls d
// back (its unit failed on the new cert). The daemon's next pass adopts
// that failure from status.json: it shows d failed, keeps the record in
// the status file it writes, and does not deploy d again during the
// backoff.
func TestForeignRollbackAdopted(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.rs.failOnce = map[string]error{"other.service": errors.New("unit other.service failed: Result=exit-code")}
	if err := ta.oneShot(t).RenewOnce(ctx, []string{"d"}, true); err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("one-shot renew with a failing unit: %v, want a rollback", err)
	}
	issued := ta.iss.count("d")
	ta.pass(ctx, passOptions{})
	r := ta.row(t, "d")
	if r.State != StateFailed || r.Failures != 1 || !strings.Contains(r.LastError, "rolled back") {
		t.Fatalf("daemon after the one-shot's rollback: %+v, want d failed (rolled back)", r)
	}
	b, err := ta.st.ReadStatus()
	if err != nil || !strings.Contains(string(b), "rolled back") {
		t.Fatalf("the daemon's status.json lost the rollback: %v\n%s", err, b)
	}
	if n := ta.iss.count("d") - issued; n != 0 {
		t.Fatalf("the daemon issued d %d more times during the backoff", n)
	}
}

package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/pki"
)

// reissueFirstIssuer is a revokingIssuer that, like step-ca, authenticates
// a revocation with the revoked pair and so revokes after re-issuing. It
// records the serial on disk when Revoke is called and whether it got the
// revoked cert's own key.
type reissueFirstIssuer struct {
	*revokingIssuer
	certFile  string
	diskAtRev []string
	keyOK     []bool
}

func (r *reissueFirstIssuer) RevokesAfterReissue() bool  { return true }
func (r *reissueFirstIssuer) RenewsWithCurrentKey() bool { return true }

func (r *reissueFirstIssuer) Revoke(ctx context.Context, req RevokeRequest) error {
	b, _ := os.ReadFile(r.certFile)
	disk := ""
	if cs, err := pki.ParseCertsPEM(b); err == nil {
		disk = serialHex(cs[0])
	}
	r.mu.Lock()
	r.diskAtRev = append(r.diskAtRev, disk)
	r.keyOK = append(r.keyOK, req.Key != nil && pki.KeyMatches(req.Cert, req.Key))
	r.mu.Unlock()
	return r.revokingIssuer.Revoke(ctx, req)
}

// A ReissueFirstRevoker's revoke deploys the new pair first, then revokes
// the old serial with the old key from the previous set; a failed revoke
// leaves the new pair and a durable pending record (state
// revoke_pending) that the next pass completes.
func TestRevokeAfterReissue(t *testing.T) {
	ta, ri, ctx := issuedWithRevoker(t)
	web := filepath.Join(ta.dir, "out", "web.pem")
	rf := &reissueFirstIssuer{revokingIssuer: ri, certFile: web}
	ta.issuers["ca"] = rf
	old := serialOf(t, web)

	ri.revokeErr = errors.New("step-ca unreachable")
	err := ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise})
	if err == nil || !strings.Contains(err.Error(), "pending") {
		t.Fatalf("revoke with the CA refusing: %v, want a pending error", err)
	}
	cur := serialOf(t, web)
	if cur == old {
		t.Fatal("the new pair was not deployed before the revocation")
	}
	if len(rf.diskAtRev) != 1 || rf.diskAtRev[0] != cur || !rf.keyOK[0] {
		t.Fatalf("Revoke saw disk %v, own key %v; want the replacement %s on disk and the old key", rf.diskAtRev, rf.keyOK, cur)
	}
	row := rowNamed(ta.Agent, "web")
	if row.State != StateRevokePending || row.Revocation == nil || !row.Revocation.Pending || row.Revocation.Serial != old ||
		!strings.Contains(row.Revocation.Error, "step-ca unreachable") || row.Revocation.RetryAt.IsZero() {
		t.Fatalf("status row %+v %+v", row, row.Revocation)
	}
	rec := readRevocation(filepath.Join(ta.dir, "state"), "web")
	if rec == nil || !rec.Pending || rec.Serial != old || len(rec.Cert) == 0 {
		t.Fatalf("pending record %+v", rec)
	}

	// The CA is back: an operator's pass completes it (the backoff does
	// not hold a renew back: a new process starts without it).
	ri.revokeErr = nil
	ta.Agent.certs["web"].revokeRetry.at = ta.clock.Now()
	ta.pass(ctx, passOptions{})
	if len(ri.revoked) != 1 || ri.revoked[0].Text(16) != old || !rf.keyOK[1] {
		t.Fatalf("revoked %v (own key %v), want %s", ri.revoked, rf.keyOK, old)
	}
	if row := rowNamed(ta.Agent, "web"); row.State != StateOK || row.Revocation.Pending {
		t.Fatalf("status after the retry %+v %+v", row, row.Revocation)
	}
	if got := serialOf(t, web); got != cur {
		t.Errorf("the retry replaced the pair again (%s → %s)", cur, got)
	}
	if rec := readRevocation(filepath.Join(ta.dir, "state"), "web"); rec == nil || rec.Pending || rec.Cert != nil {
		t.Fatalf("record after the retry %+v", rec)
	}
}

// When the re-issue fails, nothing is revoked and no record stays.
func TestRevokeAfterReissueFailedReplacement(t *testing.T) {
	ta, ri, ctx := issuedWithRevoker(t)
	web := filepath.Join(ta.dir, "out", "web.pem")
	ta.issuers["ca"] = &reissueFirstIssuer{revokingIssuer: ri, certFile: web}
	old := serialOf(t, web)
	ri.fakeIssuer.setErr(errors.New("CA down"))
	err := ta.RevokeOnce(ctx, "web", RevokeOptions{})
	if err == nil || !strings.Contains(err.Error(), "was not revoked") {
		t.Fatalf("revoke with a failing re-issue: %v", err)
	}
	if len(ri.revoked) != 0 || serialOf(t, web) != old {
		t.Fatalf("revoked %v, disk %s; want nothing revoked and %s kept", ri.revoked, serialOf(t, web), old)
	}
	if rec := readRevocation(filepath.Join(ta.dir, "state"), "web"); rec != nil {
		t.Fatalf("record left behind: %+v", rec)
	}
}

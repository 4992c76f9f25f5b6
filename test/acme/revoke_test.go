package acme_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
)

// `certagent revoke` against a real Pebble: the CA's management API then
// reports the old serial revoked with the reason, and a new cert is
// deployed and logged. A crl_file on a Pebble cert (whose leaves name no
// CRL Distribution Point) is a clear status error (renew still exits 0).
// With the CA down, revoke exits 1 and changes nothing.
func TestRevokeBinaryPebble(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "web", dnsNames: []string{"web.example.com"}})
	mustRun(t, "renew", "--config", e.Config)
	old := e.leaf(t, "web")
	r := mustRun(t, "revoke", "--config", e.Config, "web", "--reason", "superseded")
	entries, _ := parseLog(r.stderr)
	if got := withField(entries, "event", "revoked"); len(got) != 1 || got[0].str("reason") != "superseded" {
		t.Fatalf("event=revoked entries %v\n%s", got, r.stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, reason, err := srv.CertStatus(ctx, old.SerialNumber)
	if err != nil || st != "Revoked" || reason != 4 {
		t.Fatalf("pebble: serial %s is %q reason %d (%v), want Revoked superseded (4)", old.SerialNumber.Text(16), st, reason, err)
	}
	fresh := e.leaf(t, "web")
	if fresh.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Fatal("the revoked cert is still deployed")
	}
	verifyChain(t, srv, e, "web")
	if st, _, err := srv.CertStatus(ctx, fresh.SerialNumber); err != nil || st != "Valid" {
		t.Fatalf("replacement: %q %v", st, err)
	}
	cfg, _ := os.ReadFile(e.Config)
	cfg = append(cfg, []byte("crl_file = \""+e.Path("web", "ca.crl")+"\"\n")...)
	if err := os.WriteFile(e.Config, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "renew", "--config", e.Config)
	entries, _ = parseLog(r.stderr)
	if got := withField(entries, "event", "crl_failed"); len(got) != 1 {
		t.Fatalf("no crl_failed entry:\n%s", r.stderr)
	}
	row := e.status(t, "web")
	if row.State != "failed" || !strings.Contains(row.LastError, "names no CRL Distribution Point") {
		t.Fatalf("status with crl_file on a Pebble cert: %+v", row)
	}

	srv.Stop()
	before := e.snapshot(t, "web")
	r = certagent(t, "revoke", "--config", e.Config, "web")
	if r.code != 1 || !strings.Contains(r.stderr, "revoke web (serial "+fresh.SerialNumber.Text(16)+")") {
		t.Fatalf("revoke with the CA down: exit %d\n%s", r.code, r.stderr)
	}
	for f, b := range e.snapshot(t, "web") {
		if string(b) != string(before[f]) {
			t.Errorf("%s changed after a failed revoke", f)
		}
	}
}

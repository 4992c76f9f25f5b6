package acme_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/internal/pebbletest"
)

// noReuse makes Pebble validate every order: by default it reuses a
// valid authorization half of the time, and the mid-order kill waits
// for a validation.
var noReuse = map[string]string{"PEBBLE_AUTHZREUSE": "0"}

// faultRig is one cert issued through a directory proxy, so that Pebble
// can be replaced (new process, fresh state, new ports) while certagent's
// config, and the account URL it stored, keep the same directory.
type faultRig struct {
	e      *env
	dir    *proxy // in front of Pebble's ACME listener
	va     *proxy // in front of certagent's http-01 port, for Pebble's VA
	caPort int    // certagent's http_listen port
	srv    *pebbletest.Server
	old    map[string][]byte
	ari    *bool
}

// newFaultRig starts a healthy Pebble and issues cert "keep" with
// `certagent renew`.
func newFaultRig(t *testing.T, ari bool) *faultRig {
	t.Helper()
	r := &faultRig{e: newEnv(t), caPort: pebbletest.FreePort(t), ari: &ari}
	r.va = newProxy(t, 0, "127.0.0.1:"+strconv.Itoa(r.caPort))
	r.srv = pebbletest.Start(t, pebbletest.Options{HTTPPort: r.va.port(), Env: noReuse})
	r.dir = newProxy(t, 0, hostPort(t, r.srv.DirectoryURL))
	r.writeConfig(t, "")
	mustRun(t, "renew", "--config", r.e.Config)
	r.old = r.e.snapshot(t, "keep")
	return r
}

func (p *proxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}

func (r *faultRig) writeConfig(t *testing.T, renewBefore string) {
	r.e.write(t, r.srv, issuerOpts{directory: "https://" + r.dir.addr() + "/dir", httpPort: r.caPort, ari: r.ari},
		certOpts{name: "keep", dnsNames: []string{"keep.example.com"}, renewBefore: renewBefore})
}

// replace stops the current Pebble and puts a fresh one with opts behind
// the same addresses.
func (r *faultRig) replace(t *testing.T, opts pebbletest.Options) {
	t.Helper()
	r.srv.Stop()
	opts.HTTPPort = r.va.port()
	opts.Env = noReuse
	r.srv = pebbletest.Start(t, opts)
	r.dir.setBackend(hostPort(t, r.srv.DirectoryURL))
}

// failedRenew runs a renew that must fail and checks what the operator
// sees: exit 1, old files byte-identical, no staging left, the port
// closed, the failure logged once (event=renew_failed, the only error
// entry) and the backoff in status --json. It returns the logged error.
func (r *faultRig) failedRenew(t *testing.T) (string, time.Duration) {
	t.Helper()
	res := certagent(t, "renew", "--config", r.e.Config)
	end := time.Now()
	if res.code != 1 {
		t.Fatalf("renew against a failing CA: exit %d, want 1\n%s\nproxy accepts: %d", res.code, res.stderr, r.va.accepted())
	}
	now := r.e.snapshot(t, "keep")
	for f := range r.old {
		if !bytes.Equal(r.old[f], now[f]) {
			t.Errorf("%s changed although the renewal failed", f)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(r.e.State, "staging")); len(entries) != 0 {
		t.Errorf("staging not empty after a failed renewal: %v", entries)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(r.caPort), time.Second); err == nil {
		c.Close()
		t.Error("http-01 port still open after the failed order")
	}
	entries, _ := parseLog(res.stderr)
	failed := withField(entries, "event", "renew_failed")
	errs := withField(entries, "@level", "error")
	if len(failed) != 1 || len(errs) != 1 {
		t.Fatalf("%d renew_failed and %d error entries, want the failure logged once:\n%s", len(failed), len(errs), res.stderr)
	}
	row := r.e.status(t, "keep")
	if row.Failures < 1 || row.State != "failed" || row.LastError == "" {
		t.Errorf("status --json after the failure: %+v", row)
	}
	// Backoff after the first failure: full jitter within 1 min of when it
	// failed (the renew ran at most res.took before end).
	if row.NextRenewal.Before(end.Add(-res.took)) || row.NextRenewal.After(end.Add(agent.BackoffMin+time.Second)) {
		t.Errorf("status --json next_renewal %s, want within 1m of the failure (by %s)", row.NextRenewal, end.Add(agent.BackoffMin))
	}
	return strings.Join(strings.Fields(failed[0].str("error")), " "), res.took
}

// recovered renews against a healthy Pebble: the cert is issued, with a
// new account because the new Pebble does not know the stored one.
func (r *faultRig) recovered(t *testing.T) {
	t.Helper()
	res := mustRun(t, "renew", "--config", r.e.Config)
	if bytes.Equal(r.e.snapshot(t, "keep")["cert.pem"], r.old["cert.pem"]) {
		t.Fatal("renew against a healthy CA did not issue")
	}
	verifyChain(t, r.srv, r.e, "keep")
	if !strings.Contains(res.stderr, "registered ACME account") || r.srv.CountLog(pebbletest.AccountCreatedLog) != 1 {
		t.Errorf("the new Pebble does not know the stored account; want one re-registration:\n%s", res.stderr)
	}
	if row := r.e.status(t, "keep"); row.Failures != 0 || row.LastError != "" {
		t.Errorf("status --json after recovery: %+v", row)
	}
}

// TestNonceRejectKeepsOldFiles is case 4a: a Pebble that rejects every
// nonce (PEBBLE_WFE_NONCEREJECT=100; at 90 lego's 20 s of retries
// sometimes wins, so the failure would not be certain) fails the renewal
// with the CA's badNonce problem; a healthy Pebble then issues.
func TestNonceRejectKeepsOldFiles(t *testing.T) {
	t.Parallel()
	// ARI on: the recovery then orders with replaces naming a cert the
	// new Pebble never issued.
	r := newFaultRig(t, true)
	r.replace(t, pebbletest.Options{NonceReject: 100})
	r.writeConfig(t, "100d") // longer than the 90-day lifetime: due now
	msg, took := r.failedRenew(t)
	if !strings.Contains(msg, "urn:ietf:params:acme:error:badNonce") {
		t.Errorf("logged error lacks the CA's problem type: %s", msg)
	}
	r.replace(t, pebbletest.Options{})
	r.recovered(t)
	summary("case 4a nonce reject 100%%: failed after %s, logged once: %s; backoff 1m; healthy Pebble issued",
		took.Round(time.Second), msg)
}

// TestPebbleKilledMidOrder is case 4b: Pebble is killed the moment its
// validation authority connects to certagent's http-01 port, i.e. with
// the order's challenge pending; the renewal fails cleanly and a new
// Pebble behind the same address issues.
func TestPebbleKilledMidOrder(t *testing.T) {
	t.Parallel()
	// ARI off: Pebble's window would otherwise decide the cert is not due.
	r := newFaultRig(t, false)
	r.writeConfig(t, "100d")
	srv := r.srv
	r.va.once(srv.Stop)
	msg, took := r.failedRenew(t)
	if !strings.Contains(srv.Log(), "keep.example.com") {
		t.Error("the killed Pebble never saw the order")
	}
	r.replace(t, pebbletest.Options{})
	r.recovered(t)
	summary("case 4b Pebble killed mid-order: failed after %s, logged once: %s; backoff 1m; new Pebble issued",
		took.Round(time.Second), msg)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
)

// threeCertsOneUnit: three certs of one unit (two ask restart, one
// reload) and one cert of another unit with rollback.
const threeCertsOneUnit = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.a]
issuer = "ca"
dns_names = ["a.example.com"]
cert_file = "{{dir}}/out/a.pem"
key_file = "{{dir}}/out/a.key"
units = ["svc.service"]
[certs.b]
issuer = "ca"
dns_names = ["b.example.com"]
cert_file = "{{dir}}/out/b.pem"
key_file = "{{dir}}/out/b.key"
units = ["svc.service"]
[certs.c]
issuer = "ca"
dns_names = ["c.example.com"]
cert_file = "{{dir}}/out/c.pem"
key_file = "{{dir}}/out/c.key"
units = ["svc.service"]
action = "reload"
[certs.d]
issuer = "ca"
dns_names = ["d.example.com"]
cert_file = "{{dir}}/out/d.pem"
key_file = "{{dir}}/out/d.key"
units = ["other.service"]
rollback = true
`

func serialOf(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertsPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", certs[0].SerialNumber)
}

func TestOneActionPerUnitAfterAllWrites(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ta.rs.onAct = func(unit string) {
		if unit != "svc.service" {
			return
		}
		for _, n := range []string{"a", "b", "c"} {
			if _, err := os.Stat(filepath.Join(ta.dir, "out", n+".pem")); err != nil {
				t.Errorf("svc.service restarted before %s was written", n)
			}
		}
	}
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"other.service:restart", "svc.service:restart"}
	got := ta.rs.Calls()
	if len(got) != 2 || !(reflect.DeepEqual(got, want) || reflect.DeepEqual(got, []string{want[1], want[0]})) {
		t.Fatalf("unit actions %v, want exactly %v", got, want)
	}
	if p, _ := ta.st.PendingIntents(); len(p) != 0 {
		t.Fatalf("intents left pending: %v", p)
	}
	// One verdict entry per cert, each with its own cert field.
	for _, c := range []string{"a", "b", "c"} {
		if !strings.Contains(ta.logs(), "unit=svc.service cert="+c+" event=unit_action") {
			t.Errorf("no unit_action entry with cert=%s:\n%s", c, ta.logs())
		}
	}
	// Nothing due: nothing issued, nothing restarted, files untouched.
	before, _ := os.Stat(filepath.Join(ta.dir, "out/a.key"))
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	if n := len(ta.rs.Calls()); n != 2 {
		t.Fatalf("a pass with nothing due acted on units: %v", ta.rs.Calls())
	}
	if ta.iss.count("a") != 1 {
		t.Fatalf("a issued %d times, want 1", ta.iss.count("a"))
	}
	after, _ := os.Stat(filepath.Join(ta.dir, "out/a.key"))
	if !os.SameFile(before, after) {
		t.Fatal("unchanged key file was replaced")
	}
	for _, row := range ta.Snapshot() {
		if row.State != StateOK {
			t.Errorf("%s: state %s, want ok", row.Name, row.State)
		}
	}
}

func TestRollbackRestoresPreviousPair(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	good := serialOf(t, filepath.Join(ta.dir, "out/d.pem"))
	ta.rs.failOnce = map[string]error{"other.service": errors.New("unit other.service failed: Result=exit-code")}
	err := ta.RenewOnce(ctx, []string{"d"}, true)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("renew with a failing unit: err %v, want a rolled-back failure", err)
	}
	if got := serialOf(t, filepath.Join(ta.dir, "out/d.pem")); got != good {
		t.Fatalf("after rollback d.pem has serial %s, want the previous %s", got, good)
	}
	if err := pairOK(filepath.Join(ta.dir, "out/d.pem"), filepath.Join(ta.dir, "out/d.key")); err != nil {
		t.Fatalf("after rollback: %v", err)
	}
	calls := ta.rs.Calls()
	if n := strings.Count(strings.Join(calls, " "), "other.service"); n != 3 {
		t.Fatalf("other.service acted on %d times (%v), want 3: first deploy, failed deploy, rollback", n, calls)
	}
	if !strings.Contains(ta.logs(), "event=rollback") {
		t.Fatal("no rollback event logged")
	}
	if ta.rs.failed["other.service"] {
		t.Fatal("after the rollback other.service is still failed: the rollback must start it again")
	}
	// Backed off: an immediate pass does not redeploy.
	ta.rs.fail = map[string]error{}
	if err := ta.RenewOnce(ctx, []string{"d"}, false); err == nil {
		t.Fatal("the failure was forgotten by the next pass")
	}
	if got := ta.iss.count("d"); got != 2 {
		t.Fatalf("d issued %d times, want 2 (no re-deploy during backoff)", got)
	}
}

func pairOK(certFile, keyFile string) error {
	rep := pki.Inspect(certFile, keyFile, pki.Expect{}, time.Now())
	if !rep.OK() {
		return fmt.Errorf("%v", rep.Problems)
	}
	return nil
}

func TestUnavailableServiceManagerKeepsActionPending(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	ta.rs.fail["svc.service"] = fmt.Errorf("connect: %w", ErrUnavailable)
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	pending, _ := ta.st.PendingIntents()
	if len(pending) != 3 {
		t.Fatalf("pending intents %v, want the 3 of svc.service", pending)
	}
	ta.rs.fail = map[string]error{}
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if p, _ := ta.st.PendingIntents(); len(p) != 0 {
		t.Fatalf("still pending after the bus came back: %v", p)
	}
	if n := strings.Count(strings.Join(ta.rs.Calls(), " "), "svc.service:restart"); n != 2 {
		t.Fatalf("svc.service restart attempts %d, want 2 (one unreachable, one delivered)", n)
	}
	if ta.iss.count("a") != 1 {
		t.Fatal("delivering a pending action re-issued the cert")
	}
}

func TestFailureBacksOffAndHonoursRetryAfter(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	ta.iss.setErr(errors.New("ca down"))
	start := time.Now()
	if err := ta.RenewOnce(ctx, []string{"a"}, false); err == nil {
		t.Fatal("renew succeeded with a failing issuer")
	}
	st := ta.certs["a"]
	// Full jitter over the first 1 min window, at least a second.
	if st.failures != 1 || st.retryAt.Sub(start) < time.Second || st.retryAt.Sub(start) > BackoffMin+5*time.Second {
		t.Fatalf("after one failure: failures %d, retry in %s; want 1 and within 1m", st.failures, st.retryAt.Sub(start))
	}
	if _, err := os.Stat(filepath.Join(ta.dir, "out/a.pem")); !os.IsNotExist(err) {
		t.Fatal("a failed issuance wrote files")
	}
	if left, _ := os.ReadDir(filepath.Join(ta.dir, "state/staging")); len(left) != 0 {
		t.Fatalf("staging left behind after failure: %v", left)
	}
	until := time.Now().Add(3 * time.Hour).Truncate(time.Second)
	ta.iss.setErr(&RetryAfterError{Until: until, Err: errors.New("rateLimited")})
	st.retryAt = time.Time{}
	_ = ta.RenewOnce(ctx, []string{"a"}, false)
	if !st.retryAt.Equal(until) {
		t.Fatalf("retry at %s, want the CA's %s", st.retryAt, until)
	}
	if !strings.Contains(ta.logs(), "event=renew_failed") {
		t.Fatal("no renew_failed event")
	}
}

func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ta.opts.Reload = func() (*config.Config, map[string]Issuer, error) {
		return nil, nil, errors.New(`test.toml:3: cert "x": key "mode": bad mode`)
	}
	ta.reload()
	if len(ta.certs) != 4 || !strings.Contains(ta.logs(), "event=config_rejected") {
		t.Fatalf("bad reload changed the config or was not logged:\n%s", ta.logs())
	}
	newCfg := parseConfig(t, strings.ReplaceAll(threeCertsOneUnit[:strings.Index(threeCertsOneUnit, "[certs.b]")], "{{dir}}", ta.dir))
	ta.opts.Reload = func() (*config.Config, map[string]Issuer, error) {
		return newCfg, map[string]Issuer{"ca": ta.iss}, nil
	}
	ta.reload()
	if len(ta.certs) != 1 || !strings.Contains(ta.logs(), "event=config_reloaded") {
		t.Fatalf("good reload not applied: %d certs", len(ta.certs))
	}
}

func TestRunIssuesThenStopsOnCancel(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for ta.iss.count("d") == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancel")
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if err := pairOK(filepath.Join(ta.dir, "out", n+".pem"), filepath.Join(ta.dir, "out", n+".key")); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	b, err := ta.st.ReadStatus()
	if err != nil || !strings.Contains(string(b), `"name": "a"`) {
		t.Fatalf("status.json: %v %s", err, b)
	}
}

// TestShortCertDoesNotHotLoop: a cert whose policy time is already past
// when it is issued (back-dated NotBefore, tiny validity) is not renewed
// again by the next pass.
func TestShortCertDoesNotHotLoop(t *testing.T) {
	ta := newTestAgent(t, strings.Replace(threeCertsOneUnit, `dns_names = ["a.example.com"]`,
		`dns_names = ["a.example.com"]`+"\nvalidity = \"1m\"\nrenew_before = \"90%\"", 1))
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if err := ta.RenewOnce(ctx, []string{"a"}, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := ta.iss.count("a"); n != 1 {
		t.Fatalf("a 1-minute cert was issued %d times in three back-to-back passes, want 1", n)
	}
	st := ta.certs["a"]
	if left := time.Until(st.renewAt); left < 20*time.Second || left > 40*time.Second {
		t.Fatalf("next renewal in %s, want about half of the remaining minute", left)
	}
}

// TestEncryptedKeyIsNotReissuedEveryPass: an encrypted key on disk is a
// valid key (decrypted with the configured password for the checks).
func TestEncryptedKeyIsNotReissuedEveryPass(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("Str0ng!Passw0rd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestAgent(t, strings.Replace(threeCertsOneUnit, `dns_names = ["a.example.com"]`,
		`dns_names = ["a.example.com"]`+"\nkey_password_file = \""+pw+"\"", 1))
	for i := 0; i < 3; i++ {
		if err := ta.RenewOnce(context.Background(), []string{"a"}, false); err != nil {
			t.Fatal(err)
		}
	}
	if n := ta.iss.count("a"); n != 1 {
		t.Fatalf("cert with an encrypted key issued %d times in three passes, want 1", n)
	}
	b, _ := os.ReadFile(filepath.Join(ta.dir, "out/a.key"))
	if !strings.Contains(string(b), "ENCRYPTED PRIVATE KEY") {
		t.Fatal("key is not encrypted")
	}
}

// TestRestartKeepsRollbackBackoff: a daemon restarted after a rollback
// neither forgets the failure nor re-deploys the rolled-back cert.
func TestRestartKeepsRollbackBackoff(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	ta.rs.failOnce = map[string]error{"other.service": errors.New("refused")}
	if err := ta.RenewOnce(ctx, []string{"d"}, true); err == nil {
		t.Fatal("rollback not reported")
	}
	issued := ta.iss.count("d")
	// A new daemon process on the same state dir and files.
	again, err := New(Options{Config: ta.cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: ta.st, Restarter: ta.rs})
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- again.Run(rctx) }()
	time.Sleep(300 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := ta.iss.count("d"); n != issued {
		t.Fatalf("the restarted daemon issued d again (%d → %d) although it is backing off", issued, n)
	}
	for _, r := range again.Snapshot() {
		if r.Name == "d" && (r.Failures == 0 || !strings.Contains(r.LastError, "rolled back")) {
			t.Fatalf("restarted daemon forgot the failure: %+v", r)
		}
	}
}

// TestRenewOnceHonoursRecordedRetryAfter: a one-shot renew does not contact
// a CA that asked, in an earlier run, to be left alone until a time still
// ahead; certagent's own backoff, by contrast, does not hold renew back.
func TestRenewOnceHonoursRecordedRetryAfter(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	ta.iss.setErr(&RetryAfterError{Until: time.Now().Add(time.Hour), Err: errors.New("rateLimited")})
	if err := ta.RenewOnce(ctx, []string{"a"}, false); err == nil {
		t.Fatal("renew succeeded against a rate-limiting CA")
	}
	next := func() *Agent {
		a, err := New(Options{Config: ta.cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: ta.st, Restarter: ta.rs})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ta.iss.setErr(nil)
	before := ta.iss.attempts
	if err := next().RenewOnce(ctx, []string{"a"}, false); err == nil {
		t.Fatal("the second renew reported success without issuing")
	}
	if ta.iss.attempts != before {
		t.Fatalf("a second renew inside the CA's Retry-After contacted the CA (%d attempts)", ta.iss.attempts-before)
	}
	if err := next().RenewOnce(ctx, []string{"a"}, true); err != nil || ta.iss.count("a") != 1 {
		t.Fatalf("renew --force inside the window: err %v, issued %d; want one issuance", err, ta.iss.count("a"))
	}

	// Our own backoff (a plain failure) does not hold the next renew back.
	ta.iss.setErr(errors.New("ca down"))
	if err := next().RenewOnce(ctx, []string{"b"}, false); err == nil {
		t.Fatal("renew succeeded with a failing CA")
	}
	ta.iss.setErr(nil)
	if err := next().RenewOnce(ctx, []string{"b"}, false); err != nil || ta.iss.count("b") != 1 {
		t.Fatalf("renew after a local failure: err %v, issued %d; want it to try again at once", err, ta.iss.count("b"))
	}
}

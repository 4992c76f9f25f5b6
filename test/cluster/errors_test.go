package cluster

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// enrolled is a host enrolled with a fresh token against ca.
func enrolled(t *testing.T, ca *stepCA, issuerLines string) *host {
	t.Helper()
	h := newHost(t)
	h.write(ca, issuerLines, "")
	h.putToken(ca.token("web.example.com", "web.example.com"))
	h.renew(false)
	return h
}

// failRenew runs `renew --force`, which must fail without touching the
// files, and returns its output and the cert's status.
func failRenew(t *testing.T, h *host) (out, state, lastErr string) {
	t.Helper()
	before := h.snapshot()
	r := h.certagent("renew", "--force")
	if r.code == 0 {
		t.Fatalf("renew succeeded:\n%s%s", r.stdout, r.stderr)
	}
	h.sameFiles(before)
	state, lastErr = h.status()
	return r.stdout + r.stderr, state, lastErr
}

func wantAll(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

// TestStepRevoked: a cert revoked with `step ca revoke` cannot be renewed
// over mutual TLS: the state is needs_token, the message names the token
// file and the command, the files stay; a new token enrolls again.
func TestStepRevoked(t *testing.T) {
	ca := newStepCA(t)
	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	leaf := leafOf(t, h.path("web.crt"))
	// The host's own pair authorizes the revocation, as a compromised
	// host's operator would revoke it.
	ca.run("ca", "revoke", "--cert", h.path("web.crt"), "--key", h.path("web.key"), "--ca-url", ca.URL, "--root", ca.Root)

	out, state, lastErr := failRenew(t, h)
	if state != "needs_token" {
		t.Errorf("state after revocation = %q, want needs_token", state)
	}
	wantAll(t, "last_error", lastErr, "step-ca refused to renew the current certificate", "/1.0/rekey: HTTP 401",
		"put a new one-time token in "+h.tok, "step ca token web.example.com --san web.example.com --ca-url "+ca.URL)
	wantAll(t, "renew output", out, "needs a new enrollment token")

	h.putToken(ca.token("web.example.com", "web.example.com"))
	h.renew(true)
	if serial(leafOf(t, h.path("web.crt"))) == serial(leaf) {
		t.Error("a new token did not bring a new cert")
	}
	checkPair(t, ca, h)
}

// TestStepUsedTokenAndNewNames: changing dns_names needs a new token
// (step-ca keeps the old names on renewal); a token that was already
// used is refused by step-ca; both leave the files and say so.
func TestStepUsedTokenAndNewNames(t *testing.T) {
	ca := newStepCA(t)
	fp := `root_fingerprint = "` + ca.fingerprint() + `"`
	h := enrolled(t, ca, fp)
	text := strings.Replace(readFile(t, h.config), `dns_names = ["web.example.com"]`, `dns_names = ["web.example.com", "api.example.com"]`, 1)
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}

	_, state, lastErr := failRenew(t, h)
	if state != "needs_token" {
		t.Errorf("state after a SAN change = %q", state)
	}
	wantAll(t, "last_error", lastErr, "dns_names or ip_addresses changed", "token file "+h.tok+" does not exist",
		"--san web.example.com --san api.example.com")
	signs := ca.count("/1.0/sign", 201) + ca.count("/1.0/sign", 401)

	// A token for the new names, spent by someone else first.
	tok := ca.token("web.example.com", "web.example.com", "api.example.com")
	spent := filepath.Join(t.TempDir(), "spent")
	ca.run("ca", "certificate", "web.example.com", spent+".crt", spent+".key", "--token", tok)
	h.putToken(tok)
	_, state, lastErr = failRenew(t, h)
	if state != "needs_token" {
		t.Errorf("state with a used token = %q", state)
	}
	wantAll(t, "last_error", lastErr, "step-ca refused the token in "+h.tok, "/1.0/sign: HTTP 401")
	if n := ca.count("/1.0/sign", 401); n != 1 || signs != 1 {
		t.Errorf("sign requests: %d refused (want 1), %d before (want 1)", n, signs)
	}
}

// TestStepCADown: with step-ca stopped, a renewal fails as any CA outage
// does (state failed, backoff), not needs_token, and the files stay.
func TestStepCADown(t *testing.T) {
	ca := newStepCA(t)
	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	ca.stop()
	_, state, lastErr := failRenew(t, h)
	if state != "failed" {
		t.Errorf("state with the CA down = %q, want failed", state)
	}
	wantAll(t, "last_error", lastErr, `step issuer "fl"`, "/roots", "connection refused")
}

// TestStepWrongFingerprint: a root_fingerprint step-ca does not know is
// refused before any token is spent, for a new host and for one whose
// configuration changed, and the files stay.
func TestStepWrongFingerprint(t *testing.T) {
	ca := newStepCA(t)
	wrong := strings.Repeat("ab", 32)
	fresh := newHost(t)
	fresh.write(ca, `root_fingerprint = "`+wrong+`"`, "")
	fresh.putToken(ca.token("web.example.com", "web.example.com"))
	r := fresh.certagent("renew")
	if r.code == 0 {
		t.Fatal("enrolled with a wrong fingerprint")
	}
	wantAll(t, "renew output", r.stderr, "the token in "+fresh.tok+" was made for the root with fingerprint "+ca.fingerprint()+
		", not root_fingerprint "+wrong)
	if state, _ := fresh.status(); state == "needs_token" {
		t.Errorf("state = %q: a config error is not fixed by a new token", state)
	}
	if _, err := os.Stat(fresh.tok); err != nil {
		t.Errorf("the token was spent or removed: %v", err)
	}
	if ca.count("/1.0/sign", 201)+ca.count("/1.0/sign", 401) != 0 {
		t.Error("a token was sent with an unverified root")
	}

	// An OpenFL token carrying a root that is not step-ca's: refused
	// before the token is spent.
	other := filepath.Join(t.TempDir(), "other.crt")
	ca.run("certificate", "create", "not the CA", other, other+".key", "--profile", "root-ca", "--no-password", "--insecure")
	forged := newHost(t)
	forged.write(ca, "", "")
	forged.putToken(base64.StdEncoding.EncodeToString([]byte(ca.token("web.example.com", "web.example.com"))) + "." +
		base64.StdEncoding.EncodeToString([]byte(readFile(t, other))))
	r = forged.certagent("renew")
	if r.code == 0 {
		t.Fatal("enrolled trusting a root step-ca does not hold")
	}
	wantAll(t, "renew output", r.stderr, "step-ca at "+ca.URL+" does not serve TLS under the root from token", "x509")
	if ca.count("/1.0/sign", 201)+ca.count("/1.0/sign", 401) != 0 {
		t.Error("a token was sent to an unverified CA")
	}

	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	h.write(ca, `root_fingerprint = "`+wrong+`"`, "")
	_, state, lastErr := failRenew(t, h)
	if state != "failed" {
		t.Errorf("state = %q", state)
	}
	wantAll(t, "last_error", lastErr, "step-ca at "+ca.URL+" has no root with fingerprint "+wrong, "step certificate fingerprint")
}

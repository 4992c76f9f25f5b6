package stepca

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// TestRootFileTrustedAtUse: root_file decides whom the issuer sends its
// token and CSR to. A root_file the service user can change (their own
// file, or one reached through their directory) is refused at use, as
// at load, so their own root is never trusted.
func TestRootFileTrustedAtUse(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	user := hostiletest.Dir(t, base, "user")
	real := selfSigned(t, "real root", newKey(t), true, time.Now().Add(time.Hour))
	evil := selfSigned(t, "real root", newKey(t), true, time.Now().Add(time.Hour))
	good := filepath.Join(base, "root.crt")
	mustWrite(t, good, pki.EncodeCertsPEM(real))
	inUser := filepath.Join(user, "root.crt")
	mustWrite(t, inUser, pki.EncodeCertsPEM(evil))
	owned := filepath.Join(base, "owned.crt")
	mustWrite(t, owned, pki.EncodeCertsPEM(evil))
	hostiletest.Own(t, owned)
	viaLink := filepath.Join(base, "via.crt") // root's link into the user's directory
	if err := os.Symlink(inUser, viaLink); err != nil {
		t.Fatal(err)
	}

	anchor := func(p string) (string, error) {
		iss, err := New("fl", t.TempDir(), &config.Issuer{Type: "step", CAURL: "https://ca.example:9000", RootFile: p}, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, _, err := iss.anchorOf()
		return a, err
	}
	if a, err := anchor(good); err != nil || a != "sha256:"+fingerprint(real) {
		t.Fatalf("trusted root_file: anchor %q, %v", a, err)
	}
	for _, p := range []string{inUser, owned, viaLink} {
		a, err := anchor(p)
		if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("root_file %s the service user controls: want a refusal naming uid 65534, got anchor %q, %v", p, a, err)
		}
	}
}

// TestTokenPathTrustedAtUse: the service user who came to own a
// directory above token_file after load (a chown by mistake) swaps the
// token's directory for a link to a directory of root's. readToken
// refuses the path, so root neither sends nor deletes what it finds
// there.
func TestTokenPathTrustedAtUse(t *testing.T) {
	hostiletest.NeedRoot(t)
	root := selfSigned(t, "root", newKey(t), true, time.Now().Add(time.Hour))
	fp := fingerprint(root)
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	victimDir := filepath.Join(base, "rootonly")
	if err := os.Mkdir(victimDir, 0o700); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(victimDir, "web.token")
	token := provisionerToken(t, fp, []string{"web.example.com"}, time.Now().Add(5*time.Minute))
	if err := os.WriteFile(victim, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	user := hostiletest.Dir(t, base, "user")
	hostiletest.Link(t, victimDir, filepath.Join(user, "tokens"))
	iss, err := New("fl", t.TempDir(), &config.Issuer{Type: "step", CAURL: "https://ca.example:9000", RootFingerprint: fp,
		TokenFile: filepath.Join(user, "tokens", "web.token")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("token reached through the service user's directory: want a refusal naming uid 65534, got %+v, %v", tok, err)
	}
	iss.removeToken(webReq)
	if b, err := os.ReadFile(victim); err != nil || string(b) != token {
		t.Errorf("root's file behind the planted link was deleted or changed: %q, %v", b, err)
	}
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestTokenErrorsNeverQuoteTheToken: every refusal of a token file names
// the file and the reason, never the token or a part of it: the errors
// reach the journal, status.json and the needs_token notification.
func TestTokenErrorsNeverQuoteTheToken(t *testing.T) {
	root := selfSigned(t, "root", newKey(t), true, time.Now().Add(time.Hour))
	fp := fingerprint(root)
	iss, path := testIssuer(t, fp)
	other := selfSigned(t, "other", newKey(t), true, time.Now().Add(time.Hour))
	valid := provisionerToken(t, fp, []string{"web.example.com"}, time.Now().Add(5*time.Minute))
	for name, tok := range map[string]string{
		"expired":        provisionerToken(t, fp, []string{"web.example.com"}, time.Now().Add(-time.Minute)),
		"other names":    provisionerToken(t, fp, []string{"api.example.com"}, time.Now().Add(time.Minute)),
		"other root":     provisionerToken(t, strings.Repeat("ab", 32), []string{"web.example.com"}, time.Now().Add(time.Minute)),
		"OpenFL other":   base64.StdEncoding.EncodeToString([]byte(valid)) + "." + base64.StdEncoding.EncodeToString(pki.EncodeCertsPEM(other)),
		"bad signature":  valid[:strings.LastIndex(valid, ".")] + ".s3cretSIGNATUREs3cret",
		"two parts":      "s3cretHEADERs3cret.s3cretPAYLOADs3cret",
		"bad base64 jwt": "s3cret!!!JWT!!!s3cret." + base64.StdEncoding.EncodeToString([]byte("x")),
		"four parts":     "s3cretA.s3cretB.s3cretC.s3cretD",
	} {
		if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := iss.readToken(webReq)
		if err == nil {
			continue // a token readToken accepts is sent, not reported
		}
		msg := err.Error()
		parts := append(strings.Split(tok, "."), tok)
		for _, p := range parts {
			if len(p) >= 8 && strings.Contains(msg, p) {
				t.Errorf("%s: the error quotes the token (%q): %s", name, p, msg)
			}
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("%s: the error quotes the token: %s", name, msg)
		}
	}
}

// TestFetchedRootCheckedBeforeTrusted: the first root is fetched without
// TLS verification (there is nothing to verify with yet), so whoever
// answers at ca_url can send any root. It is trusted only when its
// SHA-256 is root_fingerprint.
func TestFetchedRootCheckedBeforeTrusted(t *testing.T) {
	fake := selfSigned(t, "evil root", newKey(t), true, time.Now().Add(time.Hour))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"ca": string(pki.EncodeCertsPEM(fake))})
	}))
	defer srv.Close()
	want := strings.Repeat("4f", 32)
	iss, err := New("fl", t.TempDir(), &config.Issuer{Type: "step", CAURL: srv.URL, RootFingerprint: want}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := iss.bootstrap(context.Background(), nil, nil)
	if ts != nil || err == nil || !strings.Contains(err.Error(), "fingerprint "+fingerprint(fake)+", not "+want+": refusing it") {
		t.Errorf("a root with another fingerprint: got %+v, %v; want a refusal naming both fingerprints", ts, err)
	}
}

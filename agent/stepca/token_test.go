package stepca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
)

func selfSigned(t *testing.T, cn string, key *ecdsa.PrivateKey, isCA bool, notAfter time.Time) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter, IsCA: isCA, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// provisionerToken signs claims as a JWK provisioner does.
func provisionerToken(t *testing.T, sha string, sans []string, exp time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: newKey(t)}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	cl := tokenClaims{Claims: jwt.Claims{Subject: "web.example.com", Expiry: jwt.NewNumericDate(exp)}, SHA: sha, SANs: sans}
	s, err := jwt.Signed(signer).Claims(cl).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testIssuer(t *testing.T, fp string) (*Issuer, string) {
	t.Helper()
	tok := filepath.Join(t.TempDir(), "web.token")
	iss, err := New("fl", t.TempDir(), &config.Issuer{Type: "step", CAURL: "https://ca.example:9000", RootFingerprint: fp, TokenFile: tok}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss, tok
}

var webReq = agent.Request{Name: "web", CommonName: "web.example.com", DNSNames: []string{"web.example.com"}}

// TestReadToken: both token forms are read; an expired token, one for
// other names and one for another root are refused before any request,
// the last as a configuration error rather than a need for a new token.
func TestReadToken(t *testing.T) {
	root := selfSigned(t, "root", newKey(t), true, time.Now().Add(time.Hour))
	fp := fingerprint(root)
	iss, path := testIssuer(t, fp)
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing token: %v", err)
	}
	bare := provisionerToken(t, fp, []string{"web.example.com"}, time.Now().Add(5*time.Minute))
	write(bare)
	tok, err := iss.readToken(webReq)
	if err != nil || tok.jwt != bare || tok.sha != fp || tok.root != nil {
		t.Fatalf("bare token: %+v %v", tok, err)
	}
	openfl := base64.StdEncoding.EncodeToString([]byte(bare)) + "." + base64.StdEncoding.EncodeToString(pki.EncodeCertsPEM(root))
	write(openfl)
	if tok, err = iss.readToken(webReq); err != nil || tok.jwt != bare || !tok.root.Equal(root) {
		t.Fatalf("OpenFL token: %+v %v", tok, err)
	}

	write(provisionerToken(t, fp, []string{"web.example.com"}, time.Now().Add(-time.Minute)))
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "expired at") {
		t.Errorf("expired token: %v", err)
	}
	write(provisionerToken(t, fp, []string{"api.example.com"}, time.Now().Add(time.Minute)))
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "is for api.example.com, but the cert asks for web.example.com") {
		t.Errorf("token for other names: %v", err)
	}
	other := selfSigned(t, "other", newKey(t), true, time.Now().Add(time.Hour))
	write(base64.StdEncoding.EncodeToString([]byte(bare)) + "." + base64.StdEncoding.EncodeToString(pki.EncodeCertsPEM(other)))
	var rm *rootMismatch
	if _, err := iss.readToken(webReq); !errors.As(err, &rm) || !strings.Contains(err.Error(), "not root_fingerprint "+fp) {
		t.Errorf("token with another root: %v", err)
	}
	// At use as at load: private, root's, no symlink, in root's directory.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "must be a regular file owned by root with mode 0600") {
		t.Errorf("token readable by others: %v", err)
	}
	link := path + ".link"
	if err := os.Rename(path, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(link, path); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "must be a regular file") {
		t.Errorf("token behind a symlink: %v", err)
	}
	os.Remove(path)
	write(bare)
	if err := os.Chmod(filepath.Dir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "must be owned by root and writable only by it") {
		t.Errorf("token in a world-writable dir: %v", err)
	}
	if err := os.Chmod(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	write("not a token")
	if _, err := iss.readToken(webReq); err == nil || !strings.Contains(err.Error(), "not a step one-time token") {
		t.Errorf("garbage: %v", err)
	}
}

// TestRenewToken: the renew-after-expiry token is what step-ca's
// AuthorizeRenewToken checks: an x5cInsecure chain header, a signature
// by the cert's key, sub = CN, iss = step-ca-client/1.0, the renew
// audience, a short lifetime and a unique jti.
func TestRenewToken(t *testing.T) {
	key := newKey(t)
	leaf := selfSigned(t, "web.example.com", key, false, time.Now().Add(-time.Minute))
	now := time.Now()
	s, err := renewToken(key, []*x509.Certificate{leaf}, "https://ca.example:9000/1.0/renew", now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.ParseSigned(s, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	x5c, ok := tok.Headers[0].ExtraHeaders["x5cInsecure"].([]any)
	if !ok || len(x5c) != 1 || x5c[0] != base64.StdEncoding.EncodeToString(leaf.Raw) {
		t.Fatalf("x5cInsecure header = %v", tok.Headers[0].ExtraHeaders)
	}
	var cl jwt.Claims
	if err := tok.Claims(key.Public(), &cl); err != nil {
		t.Fatalf("not signed by the cert's key: %v", err)
	}
	if err := cl.ValidateWithLeeway(jwt.Expected{Subject: "web.example.com", Issuer: "step-ca-client/1.0",
		AnyAudience: jwt.Audience{"https://ca.example:9000/1.0/renew"}, Time: now}, 0); err != nil || cl.ID == "" {
		t.Errorf("claims %+v: %v", cl, err)
	}
	if life := cl.Expiry.Time().Sub(cl.IssuedAt.Time()); life > 5*time.Minute {
		t.Errorf("token lives %s", life)
	}
}

// TestRefused tells "only a new token helps" from an outage.
func TestRefused(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&apiError{Path: "/1.0/rekey", Status: 401}, true},
		{&apiError{Path: "/1.0/sign", Status: 403}, true},
		{&apiError{Path: "/1.0/rekey", Status: 500}, false},
		{&apiError{Path: "/roots", Status: 503}, false},
		{errors.New("/1.0/rekey: remote error: tls: bad certificate"), true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, false},
		{nil, false},
	} {
		if got := refused(tc.err); got != tc.want {
			t.Errorf("refused(%v) = %v", tc.err, got)
		}
	}
}

// TestRenewable: what keeps the current pair from being renewed.
func TestRenewable(t *testing.T) {
	key := newKey(t)
	leaf := selfSigned(t, "web.example.com", key, false, time.Now().Add(time.Hour))
	leaf.DNSNames = []string{"web.example.com"}
	req := webReq
	if why := renewable(req); !strings.Contains(why, "no certificate") {
		t.Errorf("no cert: %q", why)
	}
	req.Current = leaf
	if why := renewable(req); !strings.Contains(why, "current key cannot be read") {
		t.Errorf("no key: %q", why)
	}
	req.CurrentKey = key
	if why := renewable(req); why != "" {
		t.Errorf("renewable pair: %q", why)
	}
	req.IPAddresses = []net.IP{net.ParseIP("10.0.0.5")}
	if why := renewable(req); !strings.Contains(why, "changed") {
		t.Errorf("new names: %q", why)
	}
}

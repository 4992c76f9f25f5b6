package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const stepCertConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "step"
ca_url = "https://ca.example:9000"
token_file = "{{dir}}/web.token"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "{{dir}}/out/web.pem"
key_file = "{{dir}}/out/web.key"
ca_file = "{{dir}}/out/ca.pem"
`

// stepFake is the fake CA behind the interfaces a step issuer adds: it
// records the current key it was given and serves a settable root set.
type stepFake struct {
	*fakeIssuer
	mu      sync.Mutex
	gotKey  crypto.Signer
	caRoots []*x509.Certificate
}

func (f *stepFake) RenewsWithCurrentKey() bool { return true }

func (f *stepFake) Issue(ctx context.Context, req Request) (*Bundle, error) {
	f.mu.Lock()
	f.gotKey = req.CurrentKey
	roots := f.caRoots
	f.mu.Unlock()
	b, err := f.fakeIssuer.Issue(ctx, req)
	if b != nil && roots != nil {
		b.Roots = roots
	}
	return b, err
}

func (f *stepFake) CARoots() []*x509.Certificate {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.caRoots
}

func newStepAgent(t *testing.T) (*testAgent, *stepFake) {
	t.Helper()
	ta := newTestAgent(t, stepCertConfig)
	f := &stepFake{fakeIssuer: ta.iss}
	ta.issuers = map[string]Issuer{"ca": f}
	return ta, f
}

// TestNeedsTokenWaitsForTheFile: a NeedsTokenError puts the cert in
// needs_token with no scheduled retry; passes make no new attempt until
// the token file changes, and a good token then issues.
func TestNeedsTokenWaitsForTheFile(t *testing.T) {
	ta, f := newStepAgent(t)
	tok := filepath.Join(ta.dir, "web.token")
	f.setErr(&NeedsTokenError{File: tok, Reason: "token file " + tok + " does not exist", Command: "step ca token web.example.com"})
	ctx := context.Background()
	next := ta.pass(ctx, passOptions{})
	r := ta.row(t, "web")
	if r.State != StateNeedsToken || !strings.Contains(r.LastError, "put a new one-time token in "+tok) ||
		!strings.Contains(r.LastError, "step ca token web.example.com") || !r.NextRenewal.IsZero() {
		t.Fatalf("after a NeedsTokenError: %+v", r)
	}
	if now := time.Now(); next.Before(now.Add(time.Minute)) {
		t.Errorf("next pass at %s: a cert waiting for a token must not be polled", next)
	}
	ta.pass(ctx, passOptions{})
	ta.pass(ctx, passOptions{only: map[string]bool{"web": true}})
	if f.attempts != 1 {
		t.Fatalf("%d attempts without a new token, want 1", f.attempts)
	}
	if !strings.Contains(ta.logs(), "event=needs_token") {
		t.Errorf("no needs_token event logged:\n%s", ta.logs())
	}

	f.setErr(nil)
	if err := os.WriteFile(tok, []byte("x.y.z"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The token event armed the settle timer for files being written;
	// the pass after it (here: as the backstop finds it) issues.
	ta.certs["web"].settleUntil = time.Time{}
	ta.pass(ctx, passOptions{})
	if r := ta.row(t, "web"); r.State != StateOK || f.count("web") != 1 {
		t.Fatalf("after a new token: %+v, %d issued", r, f.count("web"))
	}
	if f.gotKey != nil {
		t.Error("a first issuance was given a current key")
	}
}

// TestKeyRenewerGetsCurrentKey: an issuer that renews with the current
// pair is handed the key on disk.
func TestKeyRenewerGetsCurrentKey(t *testing.T) {
	ta, f := newStepAgent(t)
	ctx := context.Background()
	ta.pass(ctx, passOptions{})
	ta.pass(ctx, passOptions{forceAll: true})
	if f.gotKey == nil {
		t.Fatal("renewal was not given the current key")
	}
	leaf := ta.certs["web"].leaf
	if f.count("web") != 2 || leaf == nil {
		t.Fatalf("issued %d", f.count("web"))
	}
}

// TestStaleCAFileRenews: when the issuer's roots change (a federated
// root added), ca_file is rewritten by a renewal, once.
func TestStaleCAFileRenews(t *testing.T) {
	ta, f := newStepAgent(t)
	ctx := context.Background()
	ta.pass(ctx, passOptions{})
	other := newFakeIssuer(t).ca
	f.mu.Lock()
	f.caRoots = []*x509.Certificate{f.ca, other}
	f.mu.Unlock()
	ta.pass(ctx, passOptions{})
	ta.pass(ctx, passOptions{})
	if n := f.count("web"); n != 2 {
		t.Fatalf("issued %d times, want 2 (enrollment, then one renewal for the new roots)", n)
	}
	b, err := os.ReadFile(filepath.Join(ta.dir, "out", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(b), "BEGIN CERTIFICATE") != 2 {
		t.Errorf("ca_file does not hold both roots:\n%s", b)
	}
	if !strings.Contains(ta.logs(), "the issuer's roots changed") {
		t.Errorf("no reason logged:\n%s", ta.logs())
	}
}

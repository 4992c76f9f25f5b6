package agent

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// fakeIssuer is a real (in-memory) CA behind the Issuer interface, with
// switchable failures. It counts issuances per cert.
type fakeIssuer struct {
	mu       sync.Mutex
	ca       *x509.Certificate
	caKey    crypto.Signer
	issued   map[string]int
	attempts int
	err      error
}

func newFakeIssuer(t *testing.T) *fakeIssuer {
	t.Helper()
	key, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "fake CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	return &fakeIssuer{ca: ca, caKey: key, issued: map[string]int{}}
}

func (f *fakeIssuer) Issue(ctx context.Context, req Request) (*Bundle, error) {
	f.mu.Lock()
	err := f.err
	f.attempts++
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(req.StagingDir); err != nil || fi.Mode().Perm() != 0o700 {
		return nil, errors.New("staging dir missing or not 0700")
	}
	key, err := pki.GenerateKey(req.KeyType)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	validity := req.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: req.CommonName},
		DNSNames: req.DNSNames, IPAddresses: req.IPAddresses,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(validity)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, f.ca, key.Public(), f.caKey)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	f.mu.Lock()
	f.issued[req.Name]++
	f.mu.Unlock()
	return &Bundle{Key: key, Leaf: leaf, Roots: []*x509.Certificate{f.ca}}, nil
}

func (f *fakeIssuer) Roots(context.Context) ([]*x509.Certificate, error) {
	return []*x509.Certificate{f.ca}, nil
}

func (f *fakeIssuer) count(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.issued[name]
}

func (f *fakeIssuer) setErr(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// fakeRestarter records unit actions; fail maps a unit to its error for
// the next calls; onAct runs inside Act (to observe the disk then). Like
// systemd, a unit whose action failed is left "failed", and like
// units.Restarter, a unit that is not active is skipped unless
// StartIfInactive.
type fakeRestarter struct {
	mu    sync.Mutex
	calls []string
	fail  map[string]error
	// failOnce fails the next action on the unit only (a unit that
	// refuses the new cert but starts on the previous one).
	failOnce map[string]error
	failed   map[string]bool
	onAct    func(unit string)
}

func (r *fakeRestarter) Act(ctx context.Context, unit string, action Action, opts ActOptions) (Verdict, error) {
	r.mu.Lock()
	r.calls = append(r.calls, unit+":"+string(action))
	err := r.fail[unit]
	if e, ok := r.failOnce[unit]; ok {
		err = e
		delete(r.failOnce, unit)
	}
	hook := r.onAct
	if r.failed == nil {
		r.failed = map[string]bool{}
	}
	wasFailed := r.failed[unit]
	r.failed[unit] = err != nil && !errors.Is(err, ErrUnavailable)
	if wasFailed && !opts.StartIfInactive && err == nil {
		r.failed[unit] = true
		r.mu.Unlock()
		return Verdict{Skipped: true, ActiveState: "failed"}, nil
	}
	r.mu.Unlock()
	if hook != nil {
		hook(unit)
	}
	if errors.Is(err, ErrUnavailable) {
		return Verdict{}, err
	}
	if err != nil {
		return Verdict{ActiveState: "failed", Result: "exit-code"}, err
	}
	return Verdict{ActiveState: "active", InvocationID: "x"}, nil
}

func (r *fakeRestarter) Calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.calls...)
}

// testAgent builds an agent over a temp dir from a config template with
// {{dir}} replaced.
type testAgent struct {
	*Agent
	dir string
	iss *fakeIssuer
	rs  *fakeRestarter
	st  *store.Store
	sw  *syncWriter
}

func newTestAgent(t *testing.T, tmpl string) *testAgent {
	t.Helper()
	dir := t.TempDir()
	cfg := parseConfig(t, strings.ReplaceAll(tmpl, "{{dir}}", dir))
	st, err := store.Open(cfg.Agent.StateDir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	sw := &syncWriter{w: &strings.Builder{}}
	logger := hclog.New(&hclog.LoggerOptions{Output: sw, Level: hclog.Debug})
	ta := &testAgent{dir: dir, iss: newFakeIssuer(t), rs: &fakeRestarter{fail: map[string]error{}}, st: st, sw: sw}
	a, err := New(Options{Config: cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: st, Restarter: ta.rs, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ta.Agent = a
	return ta
}

func parseConfig(t *testing.T, text string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("test.toml", []byte(text), config.Options{SkipFileChecks: true})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (ta *testAgent) logs() string {
	ta.sw.mu.Lock()
	defer ta.sw.mu.Unlock()
	return ta.sw.w.String()
}

package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/metrics"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

const fallbackConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.primary]
type = "local"
[issuers.secondary]
type = "local"
[certs.web]
issuer = ["primary", "secondary"]
dns_names = ["web.example.com"]
cert_file = "{{dir}}/out/cert.pem"
key_file = "{{dir}}/out/key.pem"
ca_file = "{{dir}}/out/ca.pem"
`

// fallbackRig is an agent whose cert lists two fake issuers.
type fallbackRig struct {
	a                  *Agent
	dir                string
	primary, secondary *fakeIssuer
	m                  *metrics.Metrics
}

func newFallbackRig(t *testing.T) *fallbackRig {
	t.Helper()
	dir := t.TempDir()
	cfg := parseConfig(t, strings.ReplaceAll(fallbackConfig, "{{dir}}", dir))
	st, err := store.Open(cfg.Agent.StateDir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	r := &fallbackRig{dir: dir, primary: newFakeIssuer(t), secondary: newFakeIssuer(t), m: metrics.New()}
	r.a, err = New(Options{Config: cfg, Store: st, Metrics: r.m, Logger: hclog.NewNullLogger(),
		Issuers: map[string]Issuer{"primary": r.primary, "secondary": r.secondary}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// issuerOnDisk says which fake CA signed the cert on disk.
func (r *fallbackRig) issuerOnDisk(t *testing.T) string {
	t.Helper()
	leaf := readLeaf(t, filepath.Join(r.dir, "out", "cert.pem"))
	switch {
	case leaf.CheckSignatureFrom(r.primary.ca) == nil:
		return "primary"
	case leaf.CheckSignatureFrom(r.secondary.ca) == nil:
		return "secondary"
	}
	return "neither"
}

func (r *fallbackRig) row(t *testing.T) CertStatus {
	t.Helper()
	for _, row := range StatusFromDisk(r.a.cfg, nil, time.Now()) {
		if row.Name == "web" {
			return row
		}
	}
	t.Fatal("no status row for web")
	return CertStatus{}
}

func readLeaf(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertsPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

// TestFallbackToNextIssuer: the primary refuses, the secondary issues;
// status and metrics name it and ca_file holds both roots. The next
// renewal asks the primary first again.
func TestFallbackToNextIssuer(t *testing.T) {
	r := newFallbackRig(t)
	r.primary.setErr(errors.New("connection refused"))
	if err := r.a.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatalf("renew with a failing primary: %v", err)
	}
	if got := r.issuerOnDisk(t); got != "secondary" {
		t.Fatalf("cert on disk signed by %s, want secondary", got)
	}
	if got := r.row(t).IssuedBy; got != "secondary" {
		t.Fatalf("status issued_by %q, want secondary", got)
	}
	cas, err := pki.ParseCertsPEM(mustRead(t, filepath.Join(r.dir, "out", "ca.pem")))
	if err != nil || len(cas) != 2 || !cas[0].Equal(r.secondary.ca) || !cas[1].Equal(r.primary.ca) {
		t.Fatalf("ca_file holds %d certs (%v), want the secondary's root then the primary's", len(cas), err)
	}
	if !strings.Contains(scrape(t, r.m), `certagent_cert_issuer{cert="web",issuer="secondary"} 1`) {
		t.Fatalf("metrics do not name the secondary:\n%s", scrape(t, r.m))
	}

	r.primary.setErr(nil)
	if err := r.a.RenewOnce(context.Background(), nil, true); err != nil {
		t.Fatal(err)
	}
	if got := r.issuerOnDisk(t); got != "primary" {
		t.Fatalf("next renewal signed by %s, want the primary again", got)
	}
	if got := r.row(t).IssuedBy; got != "primary" {
		t.Fatalf("status issued_by %q, want primary", got)
	}
	m := scrape(t, r.m)
	if !strings.Contains(m, `certagent_cert_issuer{cert="web",issuer="primary"} 1`) || strings.Contains(m, `issuer="secondary"`) {
		t.Fatalf("metrics after the primary issued again:\n%s", m)
	}
}

// TestFallbackWaitsForShortRetryAfter: a Retry-After within fallback_wait
// (10% of the remaining lifetime) is waited for; a longer one, or one
// when no cert is on disk, sends the renewal to the next issuer.
func TestFallbackWaitsForShortRetryAfter(t *testing.T) {
	r := newFallbackRig(t)
	if err := r.a.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	limited := func(d time.Duration) error {
		return &RetryAfterError{Until: time.Now().Add(d), Err: errors.New("rateLimited")}
	}
	r.primary.setErr(limited(time.Hour)) // 90d left: 10% is 9d
	err := r.a.RenewOnce(context.Background(), nil, true)
	if err == nil || r.a.certs["web"].caRetryAt.IsZero() || r.secondary.count("web") != 0 {
		t.Fatalf("short Retry-After: err %v, secondary issued %d, want the wait for the primary", err, r.secondary.count("web"))
	}
	r.primary.setErr(limited(30 * 24 * time.Hour))
	if err := r.a.RenewOnce(context.Background(), nil, true); err != nil {
		t.Fatalf("long Retry-After: %v", err)
	}
	if got := r.issuerOnDisk(t); got != "secondary" {
		t.Fatalf("long Retry-After: cert signed by %s, want secondary", got)
	}
}

// TestFallbackAllFail: when every issuer fails the error names each, the
// old files stay, and no issuer's Retry-After holds back the others.
func TestFallbackAllFail(t *testing.T) {
	r := newFallbackRig(t)
	if err := r.a.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	before := mustRead(t, filepath.Join(r.dir, "out", "cert.pem"))
	r.primary.setErr(&RetryAfterError{Until: time.Now().Add(60 * 24 * time.Hour), Err: errors.New("rateLimited")})
	r.secondary.setErr(errors.New("no route to host"))
	err := r.a.RenewOnce(context.Background(), nil, true)
	if err == nil || !strings.Contains(err.Error(), "web") {
		t.Fatalf("err %v", err)
	}
	st := r.a.certs["web"]
	if !strings.Contains(st.lastErr, "primary: rateLimited") || !strings.Contains(st.lastErr, "secondary: no route to host") {
		t.Fatalf("last error %q does not name both issuers", st.lastErr)
	}
	if _, ok := RetryAfter(errors.New(st.lastErr)); ok || !st.caRetryAt.IsZero() {
		t.Fatal("the primary's Retry-After holds back the secondary")
	}
	if string(before) != string(mustRead(t, filepath.Join(r.dir, "out", "cert.pem"))) {
		t.Fatal("cert changed although every issuer failed")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// scrape returns the certagent_cert_issuer series as the exposition
// format writes them: name{cert="…",issuer="…"} value.
func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	var all, b strings.Builder
	if err := m.WriteText(&all); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.SplitAfter(all.String(), "\n") {
		if strings.HasPrefix(line, "certagent_cert_issuer{") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestFallbackAllRateLimited: when every issuer of the list asks to be
// left alone, the renewal waits for the earliest of their times.
func TestFallbackAllRateLimited(t *testing.T) {
	r := newFallbackRig(t)
	soon, later := time.Now().Add(40*24*time.Hour), time.Now().Add(60*24*time.Hour)
	r.primary.setErr(&RetryAfterError{Until: later, Err: errors.New("rateLimited")})
	r.secondary.setErr(&RetryAfterError{Until: soon, Err: errors.New("rateLimited")})
	if err := r.a.RenewOnce(context.Background(), nil, false); err == nil {
		t.Fatal("renew succeeded with every issuer rate-limited")
	}
	if got := r.a.certs["web"].caRetryAt; !got.Equal(soon) {
		t.Fatalf("retry at %v, want the earliest Retry-After %v", got, soon)
	}
}

// The issuer records cost two fsyncs each, so they are written only when
// they tell something: no issued-by record for a cert with one issuer
// (its issuer is known without it), and the learned roots not again
// while they are the same.
func TestIssuerRecordsWrittenOnlyWhenTheyTell(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	state := ta.cfg.Agent.StateDir
	if _, err := os.Stat(filepath.Join(state, issuedByDir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("issued-by record of a one-issuer cert: %v, want none", err)
	}
	roots := filepath.Join(state, issuerRootsDir, "ca.pem")
	before, err := os.Stat(roots)
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.RenewOnce(context.Background(), nil, true); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(roots)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Fatal("the same roots were written again")
	}
	if got := ta.Snapshot()[0].IssuedBy; got != "ca" {
		t.Fatalf("issued_by %q, want ca", got)
	}
}

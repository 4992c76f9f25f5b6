package acme_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/acme"
	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/pebbletest"
)

// countingIssuer forwards to the ACME issuer and records how many
// orders were in flight at once.
type countingIssuer struct {
	*acme.Issuer
	cur, max atomic.Int64
}

func (c *countingIssuer) Issue(ctx context.Context, req agent.Request) (*agent.Bundle, error) {
	n := c.cur.Add(1)
	defer c.cur.Add(-1)
	for {
		m := c.max.Load()
		if n <= m || c.max.CompareAndSwap(m, n) {
			break
		}
	}
	return c.Issuer.Issue(ctx, req)
}

// TestTwentyDueAtOnce is case 5, in-process because the bind counter
// (acme.Issuer.HTTPListenCount) is not visible from outside the binary:
// the agent is wired as cmd/certagent wires it (config.Load, store.Open,
// acme.New, agent.New, RenewOnce) for 20 certs that are all due, with
// max_concurrent = 4. All are issued, at most 4 orders run at once, and
// overlapping orders share the http-01 listener, so it is bound far
// fewer times than there are certs.
func TestTwentyDueAtOnce(t *testing.T) {
	t.Parallel()
	const n, limit = 20, 4
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	var certs []certOpts
	for i := range n {
		name := fmt.Sprintf("c%02d", i)
		certs = append(certs, certOpts{name: name, dnsNames: []string{name + ".example.com"}})
	}
	e.write(t, srv, issuerOpts{concurrent: limit}, certs...)

	var logBuf syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: &logBuf, JSONFormat: true})
	acme.Init(logger)
	cfg, err := config.Load(e.Config, config.Options{KnownDNSProvider: acme.KnownDNSProvider})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.StateDir, logger)
	if err != nil {
		t.Fatal(err)
	}
	ai, err := acme.New("pebble", cfg.Issuers["pebble"], filepath.Join(cfg.Agent.StateDir, "acme", "pebble"), logger)
	if err != nil {
		t.Fatal(err)
	}
	iss := &countingIssuer{Issuer: ai}
	a, err := agent.New(agent.Options{Config: cfg, Issuers: map[string]agent.Issuer{"pebble": iss}, Store: st, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	start := time.Now()
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatalf("RenewOnce: %v\npebble log tail:\n%s", err, srv.Log())
	}
	took := time.Since(start)

	roots := srv.RootPool(t)
	for _, c := range certs {
		leaf := e.leaf(t, c.name)
		inter := x509.NewCertPool()
		for _, ic := range readChain(t, e, c.name) {
			inter.AddCert(ic)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: c.dnsNames[0], Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	entries, _ := parseLog(logBuf.String())
	if got := len(withField(entries, "event", "issued")); got != n {
		t.Errorf("%d event=issued entries, want %d", got, n)
	}
	if m := iss.max.Load(); m > limit {
		t.Errorf("%d orders in flight at once, max_concurrent is %d", m, limit)
	}
	binds := ai.HTTPListenCount()
	if binds < 1 || binds > n/limit {
		t.Errorf("http-01 port bound %d times for %d certs in batches of %d; want at most one bind per batch (%d)",
			binds, n, limit, n/limit)
	}
	if accts := srv.CountLog(pebbletest.AccountCreatedLog); accts != 1 {
		t.Errorf("%d accounts registered for 20 concurrent orders, want 1", accts)
	}
	summary("case 5 %d certs due, max_concurrent %d: all issued in %s, max %d in flight, port bound %d time(s)",
		n, limit, took.Round(time.Millisecond), iss.max.Load(), binds)
}

// readChain parses chain.pem of cert.
func readChain(t *testing.T, e *env, cert string) []*x509.Certificate {
	t.Helper()
	data := e.snapshot(t, cert)["chain.pem"]
	certs, err := parsePEMCerts(data)
	if err != nil || len(certs) == 0 {
		t.Fatalf("%s/chain.pem: %v (%d certs)", cert, err, len(certs))
	}
	return certs
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// TestTwentyDueAtOnceBinary is case 5 through the binary: one
// `certagent renew` issues all 20 due certs with max_concurrent = 4 and a
// single account.
func TestTwentyDueAtOnceBinary(t *testing.T) {
	t.Parallel()
	const n, limit = 20, 4
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	var certs []certOpts
	for i := range n {
		name := fmt.Sprintf("b%02d", i)
		certs = append(certs, certOpts{name: name, dnsNames: []string{name + ".example.com"}})
	}
	e.write(t, srv, issuerOpts{concurrent: limit}, certs...)
	r := mustRun(t, "renew", "--config", e.Config)
	roots := srv.RootPool(t)
	for _, c := range certs {
		inter := x509.NewCertPool()
		for _, ic := range readChain(t, e, c.name) {
			inter.AddCert(ic)
		}
		if _, err := e.leaf(t, c.name).Verify(x509.VerifyOptions{DNSName: c.dnsNames[0], Roots: roots, Intermediates: inter}); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	entries, _ := parseLog(r.stderr)
	if got := len(withField(entries, "event", "issued")); got != n {
		t.Errorf("%d event=issued entries, want %d", got, n)
	}
	if accts := srv.CountLog(pebbletest.AccountCreatedLog); accts != 1 {
		t.Errorf("%d accounts registered, want 1", accts)
	}
	summary("case 5 via binary: %d certs issued by one renew in %s", n, r.took.Round(time.Millisecond))
}

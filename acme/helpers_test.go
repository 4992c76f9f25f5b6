package acme

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/pebbletest"
)

// testTimeout bounds every Issue call in tests; Pebble issues in ~1-5 s.
const testTimeout = 90 * time.Second

// issuerConfig is an http-01 standalone issuer for srv with a fixed
// profile (Pebble picks a random one otherwise).
func issuerConfig(srv *pebbletest.Server) *config.Issuer {
	return &config.Issuer{
		Type:          "acme",
		Directory:     srv.DirectoryURL,
		Email:         "ops@example.com",
		CABundle:      srv.CABundle,
		Challenge:     ChallengeHTTP01,
		HTTPListen:    "127.0.0.1:" + strconv.Itoa(srv.HTTPPort),
		TLSListen:     "127.0.0.1:" + strconv.Itoa(srv.TLSPort),
		Profile:       "default",
		MaxConcurrent: 4,
	}
}

// newIssuer builds an Issuer whose state lives in stateDir (a fresh temp
// dir when empty).
func newIssuer(t *testing.T, cfg *config.Issuer, stateDir string) *Issuer {
	t.Helper()
	if stateDir == "" {
		stateDir = filepath.Join(t.TempDir(), "acme", "test")
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Warn, Output: testWriter{t}})
	i, err := New("test", cfg, stateDir, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return i
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

// request is a request for names with a fresh staging dir.
func request(t *testing.T, names ...string) agent.Request {
	return agent.Request{
		Name:       names[0],
		CommonName: names[0],
		DNSNames:   names,
		ServerAuth: true,
		KeyType:    agent.KeyEC256,
		StagingDir: t.TempDir(),
	}
}

// issue calls Issue with the test timeout.
func issue(t *testing.T, i *Issuer, req agent.Request) (*agent.Bundle, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return i.Issue(ctx, req)
}

// mustIssue issues and checks the bundle against Pebble's root.
func mustIssue(t *testing.T, srv *pebbletest.Server, i *Issuer, req agent.Request) *agent.Bundle {
	t.Helper()
	b, err := issue(t, i, req)
	if err != nil {
		t.Fatalf("Issue(%s): %v\npebble log tail:\n%s", req.Name, err, tail(srv.Log(), 20))
	}
	verifyBundle(t, srv, b, req)
	return b
}

// verifyBundle checks that the chain verifies against /roots/0, that the
// key matches and that the SANs are the requested ones.
func verifyBundle(t *testing.T, srv *pebbletest.Server, b *agent.Bundle, req agent.Request) {
	t.Helper()
	if b == nil || b.Leaf == nil || b.Key == nil {
		t.Fatalf("incomplete bundle %+v", b)
	}
	inter := x509.NewCertPool()
	for _, c := range b.Chain {
		inter.AddCert(c)
	}
	for _, name := range req.DNSNames {
		_, err := b.Leaf.Verify(x509.VerifyOptions{
			DNSName: name, Roots: srv.RootPool(t), Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			t.Fatalf("chain does not verify for %s against Pebble's /roots/0: %v", name, err)
		}
	}
	if len(b.Chain) == 0 {
		t.Fatal("no intermediate in Chain")
	}
	if !publicKeyEqual(b.Leaf.PublicKey, b.Key.Public()) {
		t.Fatal("leaf does not match key")
	}
	if entries, _ := os.ReadDir(req.StagingDir); len(entries) != 0 {
		t.Fatalf("staging dir not empty: %v", entries)
	}
}

func tail(s string, n int) string {
	lines := splitLines(s)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func name(i int) string { return fmt.Sprintf("c%d.example.com", i) }

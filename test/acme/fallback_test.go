package acme_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// fallbackIssuer is one [issuers.NAME] table of a fallback config.
type fallbackIssuer struct {
	name, directory, caBundle string
	httpPort                  int
	local                     bool
}

// writeFallbackConfig writes a config whose cert "web" lists issuers in
// order and writes a ca_file.
func writeFallbackConfig(t *testing.T, e *env, issuers ...fallbackIssuer) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nstate_dir = %q\nlog_level = \"debug\"\nlog_format = \"json\"\n", e.State)
	var names []string
	for _, is := range issuers {
		names = append(names, fmt.Sprintf("%q", is.name))
		if is.local {
			fmt.Fprintf(&b, "\n[issuers.%s]\ntype = \"local\"\n", is.name)
			continue
		}
		fmt.Fprintf(&b, "\n[issuers.%s]\ntype = \"acme\"\ndirectory = %q\nca_bundle = %q\n", is.name, is.directory, is.caBundle)
		fmt.Fprintf(&b, "challenge = \"http-01\"\nhttp_listen = \"127.0.0.1:%d\"\nprofile = \"default\"\n", is.httpPort)
	}
	fmt.Fprintf(&b, "\n[certs.web]\nissuer = [%s]\ndns_names = [\"web.example.com\"]\n", strings.Join(names, ", "))
	fmt.Fprintf(&b, "cert_file = %q\nkey_file = %q\n", e.Path("web", "cert.pem"), e.Path("web", "key.pem"))
	fmt.Fprintf(&b, "chain_file = %q\nfullchain_file = %q\nca_file = %q\n", e.Path("web", "chain.pem"), e.Path("web", "fullchain.pem"), e.Path("web", "ca.pem"))
	if err := os.WriteFile(e.Config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// bundleWithRoot writes a ca_bundle holding the TLS root of the ACME
// endpoint and Pebble's issuing root, so that ca_file can be filled.
func bundleWithRoot(t *testing.T, srv *pebbletest.Server, tlsRoot string) string {
	t.Helper()
	data, err := os.ReadFile(tlsRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pebbleRoots(t, srv) {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Raw})...)
	}
	path := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func pebbleRoots(t *testing.T, srv *pebbletest.Server) []*x509.Certificate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	roots, err := srv.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return roots
}

// issuedBy is the issued_by field of cert in `certagent status --json`.
func issuedBy(t *testing.T, e *env, cert string) string {
	t.Helper()
	r := mustRun(t, "status", "--json", "--config", e.Config)
	var rows []struct {
		Name     string `json:"name"`
		IssuedBy string `json:"issued_by"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	for _, row := range rows {
		if row.Name == cert {
			return row.IssuedBy
		}
	}
	t.Fatalf("no status row %q", cert)
	return ""
}

// caFileHolds reports whether ca.pem holds every one of roots.
func caFileHolds(t *testing.T, e *env, roots ...*x509.Certificate) bool {
	t.Helper()
	data, err := os.ReadFile(e.Path("web", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := string(data)
	for _, r := range roots {
		if !strings.Contains(pool, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Raw}))) {
			return false
		}
	}
	return true
}

// TestFallbackBetweenPebbles: two real Pebbles; the primary, behind the
// fault proxy, answers every newOrder with 429 rateLimited and a
// Retry-After of 30 days. `certagent renew` gets the cert from the
// secondary (its chain verifies against the secondary's root) and status
// says so. Once the primary answers again, the next renewal is the
// primary's, and ca_file then holds both Pebbles' roots.
func TestFallbackBetweenPebbles(t *testing.T) {
	t.Parallel()
	primary := pebbletest.Start(t, pebbletest.Options{})
	secondary := pebbletest.Start(t, pebbletest.Options{})
	px := newFaultProxy(t, primary)
	px.inject(kindNewOrder, problemAnswer(http.StatusTooManyRequests, probRateLimited, "Retry-After", "2592000"))
	e := newEnv(t)
	writeFallbackConfig(t, e,
		fallbackIssuer{name: "primary", directory: px.dirURL, caBundle: bundleWithRoot(t, primary, px.caFile), httpPort: primary.HTTPPort},
		fallbackIssuer{name: "secondary", directory: secondary.DirectoryURL, caBundle: bundleWithRoot(t, secondary, secondary.CABundle), httpPort: secondary.HTTPPort})

	r := mustRun(t, "renew", "--config", e.Config)
	verifyChain(t, secondary, e, "web")
	if got := issuedBy(t, e, "web"); got != "secondary" {
		t.Fatalf("status issued_by %q, want secondary", got)
	}
	if n := len(px.times(kindNewOrder)); n == 0 {
		t.Fatal("the primary was never asked")
	}
	entries, _ := parseLog(r.stderr)
	if len(withField(entries, "event", "issuer_fallback")) != 1 {
		t.Errorf("want one event=issuer_fallback:\n%s", r.stderr)
	}
	table := mustRun(t, "status", "--config", e.Config).stdout
	if !strings.Contains(table, "secondary (fallback)") {
		t.Errorf("status table does not show the fallback:\n%s", table)
	}

	px.clear(kindNewOrder)
	mustRun(t, "renew", "--force", "--config", e.Config)
	verifyChain(t, primary, e, "web")
	if got := issuedBy(t, e, "web"); got != "primary" {
		t.Fatalf("after the primary recovered: issued_by %q, want primary", got)
	}
	if !caFileHolds(t, e, append(pebbleRoots(t, primary), pebbleRoots(t, secondary)...)...) {
		t.Fatal("ca_file lacks the root of one of the two issuers")
	}
}

// TestFallbackACMEToLocal: the ACME primary is a killed Pebble; the local
// CA of the list issues, ca_file holds its root, status names it.
func TestFallbackACMEToLocal(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	writeFallbackConfig(t, e,
		fallbackIssuer{name: "pebble", directory: srv.DirectoryURL, caBundle: srv.CABundle, httpPort: srv.HTTPPort},
		fallbackIssuer{name: "internal", local: true})
	srv.Stop()

	mustRun(t, "renew", "--config", e.Config)
	if got := issuedBy(t, e, "web"); got != "internal" {
		t.Fatalf("status issued_by %q, want internal", got)
	}
	openssl := testbin.OpenSSL(t)
	out := testbin.Run(t, openssl, "verify", "-CAfile", e.Path("web", "ca.pem"), "-untrusted", e.Path("web", "chain.pem"), e.Path("web", "cert.pem"))
	if !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify against ca_file: %s", out)
	}
	caData := readFiles(t, filepath.Join(e.State, "ca", "internal"), "ca.crt")["ca.crt"]
	if !strings.Contains(string(readFiles(t, e.Path("web"), "ca.pem")["ca.pem"]), string(caData)) {
		t.Fatal("ca_file does not hold the local CA's certificate")
	}
}

// Package acme_test runs the real certagent binary (and, where a counter
// is only reachable in-process, the agent wired as cmd/certagent wires it)
// against a real Pebble with pebble-challtestsrv on loopback. Each test
// starts its own Pebble with fresh state and a fixed profile.
package acme_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// bin is the certagent binary under test.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	// The tests mostly wait on Pebble and lego's polling, not on the CPU;
	// run more of them at once than the 2-core default unless the caller
	// chose -parallel. Each has its own Pebble, so Pebble's own limit
	// (about 50 concurrent orders) is not approached.
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		_ = flag.Set("test.parallel", "6")
	}
	b := testbin.MustBuild(false)
	bin = b.Release
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

// summary prints the one-line result of a case to stderr, where it shows
// even without -v.
func summary(format string, args ...any) {
	fmt.Fprintln(os.Stderr, "test/acme: "+fmt.Sprintf(format, args...))
}

// result is one finished certagent run.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

// certagent runs the binary to completion within two minutes.
func certagent(t *testing.T, args ...string) result {
	t.Helper()
	r := testbin.Exec(t, 2*time.Minute, nil, bin, args...)
	return result{r.Code, r.Stdout, r.Stderr, r.Took}
}

// mustRun runs certagent and fails the test unless it exits 0.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := certagent(t, args...)
	if r.code != 0 {
		t.Fatalf("certagent %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// env is a temp host layout (see testbin.Host).
type env struct{ *testbin.Host }

func newEnv(t *testing.T) *env { return &env{testbin.NewHost(t)} }

// policy is the renewal policy the daemon applies to cert name: it
// carries the per-install seed kept in the state dir.
func (e *env) policy(t *testing.T, name string) agent.Policy {
	t.Helper()
	st, err := store.Open(e.State, nil)
	if err != nil {
		t.Fatal(err)
	}
	seed, _, err := st.SpreadSeed()
	if err != nil {
		t.Fatal(err)
	}
	return agent.Policy{Name: name, Seed: seed}
}

// issuerOpts are the knobs of the one ACME issuer, "pebble", in a config.
type issuerOpts struct {
	directory  string // default: srv.DirectoryURL
	httpPort   int    // default: srv.HTTPPort
	profile    string // default: "default"
	ari        *bool
	concurrent int // max_concurrent; default 4
}

// certOpts describe one cert of the config.
type certOpts struct {
	name        string
	dnsNames    []string
	renewBefore string
}

// write renders a config with one ACME issuer pointing at srv and the
// given certs, each writing key, cert, chain and fullchain under out/NAME/.
// Logs are JSON so tests can read their fields exactly.
func (e *env) write(t *testing.T, srv *pebbletest.Server, io issuerOpts, certs ...certOpts) {
	t.Helper()
	if io.directory == "" {
		io.directory = srv.DirectoryURL
	}
	if io.httpPort == 0 {
		io.httpPort = srv.HTTPPort
	}
	if io.profile == "" {
		io.profile = "default"
	}
	if io.concurrent == 0 {
		io.concurrent = 4
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nstate_dir = %q\nlog_level = \"debug\"\nlog_format = \"json\"\n\n", e.State)
	fmt.Fprintf(&b, "[issuers.pebble]\ntype = \"acme\"\ndirectory = %q\nemail = \"ops@example.com\"\n", io.directory)
	fmt.Fprintf(&b, "ca_bundle = %q\nchallenge = \"http-01\"\nhttp_listen = \"127.0.0.1:%d\"\n", srv.CABundle, io.httpPort)
	fmt.Fprintf(&b, "profile = %q\nmax_concurrent = %d\n", io.profile, io.concurrent)
	if io.ari != nil {
		fmt.Fprintf(&b, "ari = %t\n", *io.ari)
	}
	for _, c := range certs {
		fmt.Fprintf(&b, "\n[certs.%s]\nissuer = \"pebble\"\ndns_names = [", c.name)
		for i, n := range c.dnsNames {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%q", n)
		}
		b.WriteString("]\nkey_type = \"ec256\"\n")
		fmt.Fprintf(&b, "cert_file = %q\nkey_file = %q\n", e.Path(c.name, "cert.pem"), e.Path(c.name, "key.pem"))
		fmt.Fprintf(&b, "chain_file = %q\nfullchain_file = %q\n", e.Path(c.name, "chain.pem"), e.Path(c.name, "fullchain.pem"))
		if c.renewBefore != "" {
			fmt.Fprintf(&b, "renew_before = %q\n", c.renewBefore)
		}
	}
	if err := os.WriteFile(e.Config, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// outputs are the four files certagent writes per cert.
var outputs = []string{"key.pem", "cert.pem", "chain.pem", "fullchain.pem"}

// snapshot reads every output file of cert.
func (e *env) snapshot(t *testing.T, cert string) map[string][]byte {
	t.Helper()
	return readFiles(t, e.Path(cert), outputs...)
}

// leaf parses the first certificate of cert's cert.pem.
func (e *env) leaf(t *testing.T, cert string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(e.Path(cert, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatalf("%s/cert.pem: no PEM block", cert)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// status runs `certagent status --json` and returns the row of cert.
type statusRow struct {
	Name        string    `json:"name"`
	Serial      string    `json:"serial"`
	NotAfter    time.Time `json:"not_after"`
	NextRenewal time.Time `json:"next_renewal"`
	RetryAfter  time.Time `json:"retry_after"`
	State       string    `json:"state"`
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error"`
}

func (e *env) status(t *testing.T, cert string) statusRow {
	t.Helper()
	r := mustRun(t, "status", "--json", "--config", e.Config)
	var rows []statusRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	for _, row := range rows {
		if row.Name == cert {
			return row
		}
	}
	t.Fatalf("status --json has no row %q:\n%s", cert, r.stdout)
	return statusRow{}
}

// verifyChain checks cert's files with openssl against Pebble's root
// from /roots/0, as an operator would.
func verifyChain(t *testing.T, srv *pebbletest.Server, e *env, cert string) {
	t.Helper()
	openssl := testbin.OpenSSL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	roots, err := srv.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rootFile := filepath.Join(e.Dir, "pebble-root-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".pem")
	var pemRoots []byte
	for _, r := range roots {
		pemRoots = append(pemRoots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Raw})...)
	}
	if err := os.WriteFile(rootFile, pemRoots, 0o600); err != nil {
		t.Fatal(err)
	}
	out := testbin.Run(t, openssl, "verify", "-CAfile", rootFile, "-untrusted", e.Path(cert, "chain.pem"), e.Path(cert, "cert.pem"))
	if !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %s", out)
	}
	// The key in key.pem is the one the cert certifies.
	pub := testbin.Run(t, openssl, "pkey", "-in", e.Path(cert, "key.pem"), "-pubout")
	certPub := testbin.Run(t, openssl, "x509", "-in", e.Path(cert, "cert.pem"), "-noout", "-pubkey")
	if pub != certPub {
		t.Fatalf("%s: key.pem does not match cert.pem", cert)
	}
}

// logEntry is one JSON log line of certagent.
type logEntry map[string]any

func (l logEntry) str(key string) string {
	v, _ := l[key].(string)
	return v
}

// parseLog parses certagent's JSON log; lines that are not JSON are
// returned separately (a library writing around hclog).
func parseLog(text string) (entries []logEntry, other []string) {
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			other = append(other, line)
			continue
		}
		entries = append(entries, e)
	}
	return entries, other
}

// withField returns the entries whose key equals value.
func withField(entries []logEntry, key, value string) []logEntry {
	var out []logEntry
	for _, e := range entries {
		if e.str(key) == value {
			out = append(out, e)
		}
	}
	return out
}

// startDaemon runs `certagent run` on e's config; it is killed at test
// end (see testbin.Daemon).
func startDaemon(t *testing.T, e *env) *testbin.Daemon {
	t.Helper()
	return testbin.StartDaemon(t, testbin.DaemonOptions{}, bin, "run", "--config", e.Config)
}

// event matches the log lines whose event field is name, for
// Daemon.Await, Count and Lines: hclog writes compact JSON and escapes
// the quotes inside values, so only the field itself can match.
func event(name string) string { return `"event":"` + name + `"` }

// logEntries parses log lines (those Daemon.Await returns).
func logEntries(lines []string) []logEntry {
	entries, _ := parseLog(strings.Join(lines, "\n"))
	return entries
}

// near reports whether got is within tol of want.
func near(got, want time.Time, tol time.Duration) bool {
	d := got.Sub(want)
	return d <= tol && d >= -tol
}

// parsePEMCerts parses every CERTIFICATE block of data.
func parsePEMCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

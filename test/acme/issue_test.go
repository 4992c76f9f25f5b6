package acme_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
)

// TestRenewHTTP01 is case 1: `certagent renew` issues through the
// standalone http-01 responder for a name challtestsrv resolves to
// 127.0.0.1; the key is 0600 and the chain verifies with openssl against
// Pebble's root from /roots/0.
func TestRenewHTTP01(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "web", dnsNames: []string{"web.example.com", "www.example.com"}})
	if r := certagent(t, "check", "--config", e.Config); r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := mustRun(t, "renew", "--config", e.Config)

	for _, f := range outputs {
		fi, err := os.Stat(e.Path("web", f))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", f, got)
		}
	}
	for _, f := range []string{"account.key", "account.json"} {
		fi, err := os.Stat(filepath.Join(e.State, "acme", "pebble", f))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("state %s: mode %04o, want 0600", f, got)
		}
	}
	verifyChain(t, srv, e, "web")
	leaf := e.leaf(t, "web")
	if got := strings.Join(leaf.DNSNames, ","); got != "web.example.com,www.example.com" {
		t.Errorf("SANs %s", got)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < pebbletest.DefaultValidity-time.Hour || life > pebbletest.DefaultValidity+time.Hour {
		t.Errorf("lifetime %s, want the default profile's %s", life, pebbletest.DefaultValidity)
	}

	// What the operator sees: one issued event, every line in the
	// configured JSON format (lego's own logger included).
	entries, other := parseLog(r.stderr)
	if n := len(withField(entries, "event", "issued")); n != 1 {
		t.Errorf("%d event=issued entries, want 1:\n%s", n, r.stderr)
	}
	if len(other) > 0 {
		t.Errorf("renew wrote %d log lines outside log_format = \"json\", e.g. %q", len(other), other[0])
	}
	if entries, _ := os.ReadDir(filepath.Join(e.State, "staging")); len(entries) != 0 {
		t.Errorf("staging not empty after renew: %v", entries)
	}
	if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(srv.HTTPPort), time.Second); err == nil {
		c.Close()
		t.Errorf("http-01 port still open after certagent exited")
	}
	summary("case 1 http-01 via binary: renew took %s, %d SANs, key 0600, openssl verify OK against /roots/0",
		r.took.Round(time.Millisecond), len(leaf.DNSNames))
}

// TestAccountReusedAfterRestart is case 6: a second certagent process
// (renew --force) uses the stored account: Pebble registers no second
// account and the account files are byte-identical.
func TestAccountReusedAfterRestart(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "api", dnsNames: []string{"api.example.com"}})
	mustRun(t, "renew", "--config", e.Config)
	if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Fatalf("Pebble created %d accounts after the first renew, want 1", n)
	}
	acctDir := filepath.Join(e.State, "acme", "pebble")
	before := readFiles(t, acctDir, "account.key", "account.json")
	first := e.leaf(t, "api")

	r := mustRun(t, "renew", "--force", "--config", e.Config)
	second := e.leaf(t, "api")
	if first.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("renew --force did not issue a new cert")
	}
	if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Errorf("Pebble created %d accounts after a second process renewed, want 1", n)
	}
	after := readFiles(t, acctDir, "account.key", "account.json")
	for f := range before {
		if !bytes.Equal(before[f], after[f]) {
			t.Errorf("%s changed across processes", f)
		}
	}
	if strings.Contains(r.stderr, "registered ACME account") {
		t.Errorf("second process logged a registration:\n%s", r.stderr)
	}
	verifyChain(t, srv, e, "api")
	summary("case 6 account reuse: 2 processes, %d account(s) at Pebble, account.key/json unchanged",
		srv.CountLog(pebbletest.AccountCreatedLog))
}

func readFiles(t *testing.T, dir string, names ...string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		out[n] = b
	}
	return out
}

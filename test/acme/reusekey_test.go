package acme_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/pebbletest"
)

// TestReuseKeyPebble: with reuse_key = true, `certagent renew --force`
// against Pebble gets a new cert for the same key (key.pem unchanged);
// once key_type changes, the old key is not reused.
func TestReuseKeyPebble(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "web", dnsNames: []string{"web.example.com"}})
	// The cert is the config's last table: its keys can be appended.
	appendConfig(t, e, "reuse_key = true\n")
	mustRun(t, "renew", "--config", e.Config)
	first, firstKey := e.leaf(t, "web"), e.snapshot(t, "web")["key.pem"]

	mustRun(t, "renew", "--force", "--config", e.Config)
	second := e.leaf(t, "web")
	if first.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("not renewed: same serial")
	}
	if !bytes.Equal(first.RawSubjectPublicKeyInfo, second.RawSubjectPublicKeyInfo) {
		t.Fatal("reuse_key = true: Pebble's new cert has a new public key")
	}
	if !bytes.Equal(firstKey, e.snapshot(t, "web")["key.pem"]) {
		t.Fatal("reuse_key = true: key.pem changed")
	}
	verifyChain(t, srv, e, "web")

	data, err := os.ReadFile(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.Config, []byte(strings.Replace(string(data), `key_type = "ec256"`, `key_type = "ec384"`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "renew", "--force", "--config", e.Config)
	third := e.leaf(t, "web")
	if bytes.Equal(second.RawSubjectPublicKeyInfo, third.RawSubjectPublicKeyInfo) {
		t.Fatal("a P-256 key was reused for key_type ec384")
	}
	if kt, _ := pki.KeyTypeOf(third.PublicKey); kt != pki.KeyEC384 {
		t.Fatalf("new key is %s, want ec384", kt)
	}
	entries, _ := parseLog(r.stderr)
	if len(withField(entries, "event", "key_rotated")) != 1 {
		t.Errorf("want one event=key_rotated saying why the key was not reused:\n%s", r.stderr)
	}
}

// appendConfig adds text at the end of the config file.
func appendConfig(t *testing.T, e *env, text string) {
	t.Helper()
	f, err := os.OpenFile(e.Config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

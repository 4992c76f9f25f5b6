package acme

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/pebbletest"
)

// TestAccountReusedAcrossRestarts issues with two Issuers (two "process
// lifetimes") on the same state dir: Pebble must log one registration,
// and the state files must be private.
func TestAccountReusedAcrossRestarts(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	state := filepath.Join(t.TempDir(), "acme", "le")
	mustIssue(t, srv, newIssuer(t, issuerConfig(srv), state), request(t, "one.example.com"))
	mustIssue(t, srv, newIssuer(t, issuerConfig(srv), state), request(t, "two.example.com"))
	if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Fatalf("Pebble registered %d accounts, want 1", n)
	}
	assertMode(t, state, 0o700)
	assertMode(t, filepath.Join(state, accountKeyFile), 0o600)
	assertMode(t, filepath.Join(state, accountJSONFile), 0o600)
}

// TestReRegisterWhenCAForgetsAccount restarts Pebble (losing every
// account) and expects the next order to register anew and succeed.
func TestReRegisterWhenCAForgetsAccount(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	state := filepath.Join(t.TempDir(), "acme", "le")
	mustIssue(t, srv, newIssuer(t, issuerConfig(srv), state), request(t, "a.example.com"))
	srv.Stop()
	srv2 := pebbletest.Start(t, pebbletest.Options{HTTPPort: srv.HTTPPort})
	// Point the stored account at the new Pebble: same config, new URL.
	cfg := issuerConfig(srv2)
	data, err := os.ReadFile(filepath.Join(state, accountJSONFile))
	if err != nil {
		t.Fatal(err)
	}
	data = []byte(strings.ReplaceAll(string(data), srv.DirectoryURL, srv2.DirectoryURL))
	oldHost := strings.TrimSuffix(strings.TrimPrefix(srv.DirectoryURL, "https://"), "/dir")
	newHost := strings.TrimSuffix(strings.TrimPrefix(srv2.DirectoryURL, "https://"), "/dir")
	data = []byte(strings.ReplaceAll(string(data), oldHost, newHost))
	if err := writeAtomic(filepath.Join(state, accountJSONFile), data); err != nil {
		t.Fatal(err)
	}
	mustIssue(t, srv2, newIssuer(t, cfg, state), request(t, "b.example.com"))
	if n := srv2.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Fatalf("new Pebble registered %d accounts, want 1 (re-registration)", n)
	}
}

// TestEAB requires external account binding: the right HMAC works, a
// wrong one fails with the CA's problem and registers nothing.
func TestEAB(t *testing.T) {
	t.Parallel()
	const kid = "kid-1"
	const hmac = "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"
	const wrong = "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH"
	srv := pebbletest.Start(t, pebbletest.Options{EAB: map[string]string{kid: hmac}})
	dir := t.TempDir()
	withKey := func(key string) string {
		p := filepath.Join(dir, key[:6])
		if err := os.WriteFile(p, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	cfg := issuerConfig(srv)
	cfg.EABKID, cfg.EABHMACFile = kid, withKey(wrong)
	_, err := issue(t, newIssuer(t, cfg, ""), request(t, "eab-bad.example.com"))
	if err == nil || !strings.Contains(err.Error(), "external account binding") {
		t.Fatalf("wrong HMAC: got %v, want an external account binding error", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Fatal("error leaks the HMAC key")
	}
	t.Logf("wrong HMAC error: %v", err)

	cfg = issuerConfig(srv)
	cfg.EABKID, cfg.EABHMACFile = kid, withKey(hmac)
	mustIssue(t, srv, newIssuer(t, cfg, ""), request(t, "eab.example.com"))
	if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Fatalf("Pebble registered %d accounts, want 1", n)
	}
}

// TestEABNeededButMissing gets the CA's clear refusal when the CA
// requires EAB and none is configured.
func TestEABNeededButMissing(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{EAB: map[string]string{"kid-1": "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W"}})
	_, err := issue(t, newIssuer(t, issuerConfig(srv), ""), request(t, "x.example.com"))
	var pe *ProblemError
	if !errors.As(err, &pe) || !strings.HasSuffix(pe.Type, ":externalAccountRequired") {
		t.Fatalf("got %v, want the CA's externalAccountRequired problem", err)
	}
	t.Logf("missing EAB error: %v", err)
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Fatalf("%s has mode %04o, want %04o", path, got, want)
	}
}

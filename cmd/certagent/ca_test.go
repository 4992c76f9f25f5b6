package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `certagent ca` usage errors exit 2 and create nothing; a local CA that
// does not exist yet cannot be rotated (exit 1, saying so).
func TestCARotateUsage(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	os.WriteFile(conf, []byte("[agent]\nstate_dir = \""+dir+"/state\"\n[issuers.le]\ntype = \"acme\"\ndirectory = \"https://acme.example.com/dir\"\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n"), 0o600)
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		inErr   string
		noState bool
	}{
		{"no subcommand", []string{"ca"}, 2, "usage: certagent ca rotate", true},
		{"unknown subcommand", []string{"ca", "renew"}, 2, "usage: certagent ca rotate", true},
		{"no issuer", []string{"ca", "rotate", "--config", conf}, 2, "exactly one ISSUER", true},
		{"acme issuer", []string{"ca", "rotate", "--config", conf, "le"}, 2, `"le" is not a local issuer`, true},
		{"unknown issuer", []string{"ca", "rotate", "--config", conf, "nope"}, 2, `"nope" is not a local issuer`, true},
		{"no ca yet", []string{"ca", "rotate", "--config", conf, "ca"}, 1, "the ca does not exist yet; there is nothing to rotate", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.inErr) {
				t.Fatalf("certagent %v: exit %d, want %d\nstdout: %s\nstderr: %s", tc.args, code, tc.code, out, errs)
			}
			if _, err := os.Stat(filepath.Join(dir, "state")); tc.noState && !os.IsNotExist(err) {
				t.Error("a usage error created the state dir")
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "ca", "ca", "ca.key")); !os.IsNotExist(err) {
		t.Error("ca rotate created a CA")
	}
}

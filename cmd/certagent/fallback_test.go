package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/certagent/certagent/agent/localca"
)

// TestCheckFilesRootsOfIssuerList: `check --files` holds a cert with an
// issuer list to the roots of all its issuers (a cert from the fallback is
// not "from another issuer"), and skips the check when one is ACME.
func TestCheckFilesRootsOfIssuerList(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	data := "[agent]\nstate_dir = \"" + dir + "/state\"\n[issuers.a]\ntype = \"local\"\n[issuers.b]\ntype = \"local\"\n" +
		"[issuers.le]\ntype = \"acme\"\ndirectory = \"https://acme.example/dir\"\n" +
		"[certs.two]\nissuer = [\"a\", \"b\"]\ndns_names = [\"x.example.com\"]\ncert_file = \"/x/c.pem\"\nkey_file = \"/x/k.pem\"\n" +
		"[certs.mixed]\nissuer = [\"a\", \"le\"]\ndns_names = [\"x.example.com\"]\ncert_file = \"/y/c.pem\"\nkey_file = \"/y/k.pem\"\n"
	if err := os.WriteFile(conf, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if _, err := localca.New(name, filepath.Join(dir, "state", "ca", name), cfg.Issuers[name]).Roots(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if rs := listRoots(cfg, cfg.Certs["two"]); len(rs) != 2 {
		t.Fatalf("two local issuers: %d roots, want both", len(rs))
	}
	if rs := listRoots(cfg, cfg.Certs["mixed"]); rs != nil {
		t.Fatalf("a list with an ACME issuer: %d roots, want nil (no issuer check)", len(rs))
	}
}

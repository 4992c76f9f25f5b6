package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckFilesNamesTheFile: with cert and key both missing, each line of
// `check --files` says which file it is about (it used to print
// `cert "web": missing: file does not exist` twice).
func TestCheckFilesNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(`[agent]
state_dir = "`+dir+`/state"
[issuers.ca]
type = "local"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "`+dir+`/tls/web.pem"
key_file = "`+dir+`/tls/web.key"
ca_file = "`+dir+`/tls/ca.pem"
`), 0o600)
	code, out, errs := runCLI(t, "check", "--files", "--config", cfg)
	if code != exitFailure {
		t.Fatalf("check --files with no files: exit %d, want %d\n%s%s", code, exitFailure, out, errs)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, `cert "web"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("want 3 problem lines (cert, key, ca file), got:\n%s", out)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Errorf("line printed twice: %q", l)
		}
		seen[l] = true
	}
	for _, f := range []string{"web.pem", "web.key", "ca.pem"} {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, filepath.Join(dir, "tls", f)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s named by %d lines, want 1:\n%s", f, n, out)
		}
	}
}

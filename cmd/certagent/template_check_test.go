package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckRefusesLoopingTemplate: `certagent check` on a template that
// would loop forever returns exit code 2 with the file, line and key of
// the template entry (issue 12 item 5), instead of spinning in
// text/template's Execute, which nothing can interrupt.
func TestCheckRefusesLoopingTemplate(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "loop.tmpl")
	conf := filepath.Join(dir, "certagent.toml")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(src, []byte("{{range 1000000000000}}{{end}}\n"), 0o644))
	must(os.WriteFile(conf, []byte(`[agent]
state_dir = "`+dir+`/state"
[issuers.ca]
type = "local"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "`+dir+`/out/web.pem"
key_file = "`+dir+`/out/web.key"
[[certs.web.templates]]
source = "`+src+`"
dest = "`+dir+`/out/web.conf"
`), 0o600))
	code, out, errs := runCLI(t, "check", "--config", conf)
	want := conf + `:11: cert "web" template 1: key "source": template loop.tmpl: loop.tmpl:1:8: range over 1000000000000: a template may range only over .DNSNames`
	if code != 2 || !strings.Contains(errs, want) {
		t.Fatalf("check: exit %d, want 2\nstdout: %s\nstderr: %s\nwant stderr ∋ %q", code, out, errs, want)
	}
}

package recipes

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/config"
)

var (
	absPath   = regexp.MustCompile(`"(/[^"]*)"`)
	ownerLine = regexp.MustCompile(`(?m)^(owner|group)\s*=\s*"[^"]*"`)
)

// strongPassword satisfies password_policy = "strong" and tls_info's
// character rule.
const strongPassword = "Vega-Str0ng!pw"

// TestExamplesPassCheck runs the real `certagent check --explain` on
// every examples/*.toml, with absolute paths moved under a temp dir and
// the files the config reads (templates, password files, hooks, env
// files) created there, as an operator following the recipe would.
func TestExamplesPassCheck(t *testing.T) {
	files, err := filepath.Glob(repoFile("examples/*.toml"))
	if err != nil || len(files) < 7 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			h := newHost(t)
			src, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			text := absPath.ReplaceAllString(string(src), `"`+h.dir+`$1"`)
			text = ownerLine.ReplaceAllString(text, fmt.Sprintf(`$1 = "%d"`, os.Getuid()))
			h.write(t, text)
			cfg, err := config.Parse(h.config, []byte(text), config.Options{SkipFileChecks: true})
			if err != nil {
				t.Fatalf("example does not parse:\n%v", err)
			}
			provideInputs(t, h, cfg)
			r := h.certagent(t, "check", "--explain")
			if r.code != 0 {
				t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, name := range cfg.CertNames() {
				if p := cfg.Certs[name].Preset; p != "" && !strings.Contains(r.stdout, fmt.Sprintf("cert %q: preset %q", name, p)) {
					t.Errorf("--explain does not show preset %s of %s:\n%s", p, name, r.stdout)
				}
			}
		})
	}
}

// provideInputs creates every file the config reads, under h.dir.
func provideInputs(t *testing.T, h *host, cfg *config.Config) {
	t.Helper()
	for _, is := range cfg.Issuers {
		for _, p := range []string{is.DNSEnvFile, is.EABHMACFile} {
			if p != "" {
				writeFile(t, p, "X=y\n", 0o600)
			}
		}
		if is.CABundle != "" {
			writeFile(t, is.CABundle, "", 0o644)
		}
		if is.Webroot != "" {
			if err := os.MkdirAll(is.Webroot, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, c := range cfg.Certs {
		for _, p := range []string{c.KeyPasswordFile, c.PKCS12PasswordFile} {
			if p != "" {
				writeFile(t, p, strongPassword+"\n", 0o600)
			}
		}
		for _, n := range []string{c.KeyPasswordCredential, c.PKCS12PasswordCredential} {
			if n != "" {
				h.credential(t, n, strongPassword)
			}
		}
		for _, hook := range [][]string{c.Exec, c.PreExec, c.OnFailure} {
			if len(hook) > 0 {
				writeFile(t, hook[0], "#!/bin/sh\n", 0o755)
			}
		}
		for _, tp := range c.Templates {
			body, err := os.ReadFile(repoFile("docs/recipes/templates/" + filepath.Base(tp.Source)))
			if err != nil {
				t.Fatalf("template %s is not shipped in docs/recipes/templates: %v", tp.Source, err)
			}
			writeFile(t, tp.Source, string(body), 0o644)
		}
	}
	for _, n := range cfg.Notify {
		if n.HeadersFile != "" {
			writeFile(t, n.HeadersFile, "Authorization: Bearer x\n", 0o600)
		}
		if n.CABundle != "" {
			writeFile(t, n.CABundle, "", 0o644)
		}
		if len(n.Command) > 0 {
			writeFile(t, n.Command[0], "#!/bin/sh\n", 0o755)
		}
	}
	// Directories made by the rewrite must not be group-writable for the
	// config file check; t.TempDir is 0700 already.
}

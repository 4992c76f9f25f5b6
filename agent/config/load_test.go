package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTree writes files (relative path → content) under a new temp dir,
// 0644 like a package-installed config, and returns the dir.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadLines runs Load and returns its errors with dir replaced by DIR.
func loadLines(t *testing.T, dir string, opts Options) (*Config, []string) {
	t.Helper()
	c, err := Load(filepath.Join(dir, "certagent.toml"), opts)
	lines := errLines(t, err, true)
	for i := range lines {
		lines[i] = strings.ReplaceAll(lines[i], dir, "DIR")
	}
	return c, lines
}

const mainTOML = `[agent]
log_level = "debug"
check_interval = "1h"

[issuers.ca]
type = "local"

[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "/srv/web/cert.pem"
key_file = "/srv/web/key.pem"
`

func TestLoadDropIns(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"certagent.toml": mainTOML,
		"conf.d/10-api.toml": `[certs.api]
issuer = "ca"
dns_names = ["api.example.com"]
cert_file = "/srv/api/cert.pem"
key_file = "/srv/api/key.pem"
[agent]
log_level = "warn"
`,
		"conf.d/20-agent.toml": "[agent]\nlog_level = \"error\"\nwarn_before = \"30d\"\n",
		"conf.d/README":        "not toml, ignored",
		"conf.d/30-x.toml.bak": "garbage [[[",
	})
	c, errs := loadLines(t, dir, testOpts)
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if got := strings.Join(c.CertNames(), ","); got != "api,web" {
		t.Errorf("certs = %s", got)
	}
	// Later files win per [agent] key; keys they do not set are kept.
	if c.Agent.LogLevel != "error" || c.Agent.CheckInterval.Duration != time.Hour || c.Agent.WarnBefore.Duration != 30*24*time.Hour {
		t.Errorf("agent = %+v", c.Agent)
	}
	want := []string{"certagent.toml", "conf.d/10-api.toml", "conf.d/20-agent.toml"}
	for i, f := range c.Files {
		if f != filepath.Join(dir, want[i]) {
			t.Errorf("Files[%d] = %s", i, f)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	apiCert := "[certs.api]\nissuer = \"ca\"\ndns_names = [\"api.example.com\"]\ncert_file = \"/srv/api/cert.pem\"\nkey_file = \"/srv/api/key.pem\"\n"
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"same cert in two files", map[string]string{"certagent.toml": mainTOML, "conf.d/10.toml": "\n[certs.web]\nissuer = \"ca\"\n"},
			[]string{`DIR/conf.d/10.toml:2: cert "web": defined again; first defined in DIR/certagent.toml:8 (drop-ins may add certs but not redefine them; rename or remove one)`}},
		{"same issuer in two drop-ins", map[string]string{"certagent.toml": mainTOML, "conf.d/a.toml": "[issuers.le]\ntype = \"local\"\n", "conf.d/b.toml": "[issuers.le]\ntype = \"local\"\n"},
			[]string{`DIR/conf.d/b.toml:1: issuer "le": defined again; first defined in DIR/conf.d/a.toml:1 (drop-ins may add issuers but not redefine them; rename or remove one)`}},
		{"duplicate output path across drop-ins", map[string]string{"certagent.toml": mainTOML,
			"conf.d/10.toml": strings.Replace(apiCert, "/srv/api/key.pem", "/srv/web/key.pem", 1)},
			[]string{`DIR/conf.d/10.toml:5: cert "api": key "key_file": /srv/web/key.pem is also cert "web"'s key_file (DIR/certagent.toml:12) (give each cert its own output files)`}},
		{"errors in several files", map[string]string{"certagent.toml": mainTOML + "mode = \"0644\"\n",
			"conf.d/10.toml": "[agent]\nlog_level = \"loud\"\n", "conf.d/20.toml": apiCert + "units = [\"api\"]\n"},
			[]string{
				`DIR/certagent.toml:13: cert "web": key "mode": mode 0644 is looser than 0600 for a private key (use "0600" or stricter, or set allow_insecure_mode = true; cert_mode may be looser for public files)`,
				`DIR/conf.d/10.toml:2: agent: key "log_level": unknown log level "loud" (use one of: trace, debug, info, warn, error)`,
				`DIR/conf.d/20.toml:6: cert "api": key "units": invalid unit name "api" (give the full unit name with its type, e.g. "nginx.service")`,
			}},
		{"syntax error in a drop-in stops validation", map[string]string{"certagent.toml": mainTOML + "issuer2 = 1\n", "conf.d/10.toml": "[certs.x\n"},
			[]string{
				`DIR/certagent.toml:13: cert "web": key "issuer2": unknown key (did you mean "issuer"?)`,
				`DIR/conf.d/10.toml:1: toml syntax error: expected '.' or ']' to end table name, but got '\n' instead (fix the TOML syntax on this line; see https://toml.io)`,
			}},
		{"missing main file", map[string]string{"other.toml": ""},
			[]string{`DIR/certagent.toml: config file does not exist (create it, or pass --config FILE)`}},
		{"main file is a directory", map[string]string{"certagent.toml/x": ""},
			[]string{`DIR/certagent.toml: config file is not a regular file (point --config at a regular file)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := loadLines(t, writeTree(t, tc.files), testOpts)
			sameLines(t, got, tc.want)
		})
	}
}

// TestLoadHugeFile: a 10 MB file is refused before it is parsed.
func TestLoadHugeFile(t *testing.T) {
	dir := writeTree(t, map[string]string{"certagent.toml": "# " + strings.Repeat("x", 10<<20) + "\n"})
	_, got := loadLines(t, dir, testOpts)
	sameLines(t, got, []string{`DIR/certagent.toml: file is larger than the 1 MiB limit (10485763 bytes) (a certagent config is a few KiB; check that this is the right file)`})

	_, err := Parse("big.toml", make([]byte, MaxFileSize+1), testOpts)
	sameLines(t, errLines(t, err, true), []string{`big.toml: file is 1048577 bytes, more than the 1 MiB limit (a certagent config is a few KiB; check that this is the right file)`})
	if _, err := Parse("edge.toml", []byte(strings.Repeat("#", MaxFileSize)), testOpts); err != nil {
		t.Errorf("a file of exactly 1 MiB should be accepted: %v", err)
	}
}

// TestConfigFilePermissions: like sshd, refuse config files others could
// change, since certagent runs hooks as root from them.
func TestConfigFilePermissions(t *testing.T) {
	dir := writeTree(t, map[string]string{"certagent.toml": mainTOML, "conf.d/10.toml": "[agent]\n"})
	opts := testOpts
	opts.SkipFileChecks = false
	if _, got := loadLines(t, dir, opts); got != nil {
		t.Fatalf("0644 files refused: %v", got)
	}
	if err := os.Chmod(filepath.Join(dir, "conf.d/10.toml"), 0o666); err != nil {
		t.Fatal(err)
	}
	_, got := loadLines(t, dir, opts)
	sameLines(t, got, []string{`DIR/conf.d/10.toml: config file is writable by group or others (mode 0666) (chmod go-w DIR/conf.d/10.toml)`})
	opts.SkipFileChecks = true
	if _, got := loadLines(t, dir, opts); got != nil {
		t.Errorf("SkipFileChecks should skip the permission check: %v", got)
	}
}

// TestSecretAndHookFiles checks the on-disk rules for credential files
// and hooks against real files.
func TestSecretAndHookFiles(t *testing.T) {
	dir := t.TempDir()
	env := filepath.Join(dir, "dns.env")
	hook := filepath.Join(dir, "hook")
	if err := os.WriteFile(env, []byte("CF_DNS_API_TOKEN=x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hook, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := `[issuers.le]
type = "acme"
directory = "https://acme.example/dir"
challenge = "dns-01"
dns_provider = "exec"
dns_env_file = "ENV"
eab_kid = "kid"
eab_hmac_file = "ENV"
[certs.web]
issuer = "le"
dns_names = ["web.example.com"]
cert_file = "/srv/web/cert.pem"
key_file = "/srv/web/key.pem"
exec = ["HOOK", "--reload"]
`
	conf = strings.NewReplacer("ENV", env, "HOOK", hook).Replace(conf)
	opts := testOpts
	opts.SkipFileChecks = false
	check := func(want ...string) {
		t.Helper()
		_, err := Parse("c.toml", []byte(conf), opts)
		got := errLines(t, err, true)
		for i := range got {
			got[i] = strings.ReplaceAll(got[i], dir, "DIR")
		}
		if len(want) == 0 {
			want = nil
		}
		sameLines(t, got, want)
	}
	check()

	must(t, os.Chmod(env, 0o640))
	must(t, os.Chmod(hook, 0o775))
	check(`c.toml:6: issuer "le": key "dns_env_file": DIR/dns.env is accessible by group or others (mode 0640) (chmod 0600 DIR/dns.env)`,
		`c.toml:8: issuer "le": key "eab_hmac_file": DIR/dns.env is accessible by group or others (mode 0640) (chmod 0600 DIR/dns.env)`,
		`c.toml:14: cert "web": key "exec": DIR/hook is writable by group or others (mode 0775) (chmod go-w DIR/hook)`)

	must(t, os.Chmod(env, 0o600))
	must(t, os.Chmod(hook, 0o644))
	check(`c.toml:14: cert "web": key "exec": DIR/hook is not an executable file (chmod 0755 DIR/hook)`)
	must(t, os.Chmod(hook, 0o755))

	if os.Geteuid() == 0 {
		must(t, os.Chown(env, 65534, 65534))
		check(`c.toml:6: issuer "le": key "dns_env_file": DIR/dns.env is owned by uid 65534, not root (chown root DIR/dns.env)`,
			`c.toml:8: issuer "le": key "eab_hmac_file": DIR/dns.env is owned by uid 65534, not root (chown root DIR/dns.env)`)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestErrorsType: Load's error is *Errors, usable with errors.As.
func TestErrorsType(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.toml"), testOpts)
	var es *Errors
	if !errors.As(err, &es) || len(*es) != 1 {
		t.Fatalf("err = %T %v", err, err)
	}
}

// TestFullExample: examples/full.toml is valid apart from the files and
// users that exist only on a real host.
func TestFullExample(t *testing.T) {
	c, err := Load("../../examples/full.toml", Options{SkipFileChecks: true,
		LookupUser:  func(string) (int, error) { return 1000, nil },
		LookupGroup: func(string) (int, error) { return 1000, nil },
	})
	if err != nil {
		t.Fatalf("examples/full.toml: %v", err)
	}
	if len(c.Certs) < 3 || len(c.Issuers) < 2 || len(c.Watch) < 1 {
		t.Errorf("example too small: %v %v %v", c.CertNames(), c.IssuerNames(), c.WatchNames())
	}
}

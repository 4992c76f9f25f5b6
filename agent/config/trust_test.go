package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// userTree returns a root-owned temporary directory holding "user", a
// directory owned by nobody, like a service user's output directory.
func userTree(t *testing.T) (dir, user string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	dir = t.TempDir()
	user = filepath.Join(dir, "user")
	must(t, os.Mkdir(user, 0o755))
	must(t, os.Chown(user, 65534, 65534))
	return dir, user
}

// parseLines parses text with file checks on and returns the errors with
// dir replaced by DIR.
func parseLines(t *testing.T, text, dir string) []string {
	t.Helper()
	opts := testOpts
	opts.SkipFileChecks = false
	_, err := Parse("c.toml", []byte(text), opts)
	got := errLines(t, err, true)
	for i := range got {
		got[i] = strings.ReplaceAll(got[i], dir, "DIR")
	}
	return got
}

// TestTemplateSourceTrust: a template source the service user could
// change or redirect is a config error (issue 12 item 3): root renders it
// into a file that user reads.
func TestTemplateSourceTrust(t *testing.T) {
	dir, user := userTree(t)
	caKey := filepath.Join(dir, "ca.key")
	must(t, os.WriteFile(caKey, []byte("-----BEGIN PRIVATE KEY-----\n"), 0o600))
	good := filepath.Join(dir, "good.tmpl")
	must(t, os.WriteFile(good, []byte("cert={{.CertFile}}\n"), 0o644))
	owned := filepath.Join(dir, "owned.tmpl")
	must(t, os.WriteFile(owned, []byte("x"), 0o644))
	must(t, os.Chown(owned, 65534, 65534))
	inUser := filepath.Join(user, "a.tmpl")
	must(t, os.WriteFile(inUser, []byte("x"), 0o644))
	planted := filepath.Join(user, "planted.tmpl") // the user's link to root's CA key
	must(t, os.Symlink(caKey, planted))
	must(t, os.Lchown(planted, 65534, 65534))
	viaLink := filepath.Join(dir, "via.tmpl") // root's link into the user's directory
	must(t, os.Symlink(inUser, viaLink))

	tmpl := func(src string) string {
		return certTOML() + "[[certs.web.templates]]\nsource = \"" + src + "\"\ndest = \"/srv/web/a.conf\"\n"
	}
	if got := parseLines(t, tmpl(good), dir); got != nil {
		t.Fatalf("trusted template refused: %v", got)
	}
	for src, want := range map[string]string{
		owned:   `c.toml:10: cert "web" template 1: key "source": DIR/owned.tmpl is owned by uid 65534, not root (chown root DIR/owned.tmpl)`,
		inUser:  `c.toml:10: cert "web" template 1: key "source": directory DIR/user is owned by uid 65534, not root (keep the file in a directory only root can write, or chown root DIR/user)`,
		planted: `c.toml:10: cert "web" template 1: key "source": directory DIR/user is owned by uid 65534, not root (keep the file in a directory only root can write, or chown root DIR/user)`,
		viaLink: `c.toml:10: cert "web" template 1: key "source": directory DIR/user is owned by uid 65534, not root (reached through symlink DIR/via.tmpl) (keep the file in a directory only root can write, or chown root DIR/user)`,
	} {
		sameLines(t, parseLines(t, tmpl(src), dir), []string{want})
	}
}

// TestTemplateLoopIsConfigError: `certagent check` reports a template
// that could loop forever at its file, line and key, and returns.
func TestTemplateLoopIsConfigError(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "loop.tmpl")
	must(t, os.WriteFile(src, []byte("{{range 1000000000000}}{{end}}\n"), 0o644))
	text := certTOML() + "[[certs.web.templates]]\nsource = \"" + src + "\"\ndest = \"/srv/web/a.conf\"\n"
	sameLines(t, parseLines(t, text, dir), []string{
		`c.toml:10: cert "web" template 1: key "source": template loop.tmpl: loop.tmpl:1:8: range over 1000000000000: ` +
			`a template may range only over .DNSNames, .IPAddresses or .Certs (or $.DNSNames, $.IPAddresses, $.Certs) ` +
			`(fix the template; docs/configuration.md lists the fields)`,
	})
}

// TestHookTrust: a hook's program must be trusted along its resolved
// path, and so must the script an interpreter runs (issue 12 item 4).
func TestHookTrust(t *testing.T) {
	dir, user := userTree(t)
	good := filepath.Join(dir, "reload.sh")
	must(t, os.WriteFile(good, []byte("#!/bin/sh\n"), 0o755))
	bad := filepath.Join(user, "reload.sh")
	must(t, os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o755))
	link := filepath.Join(dir, "hook") // root's link, target in the user's directory
	must(t, os.Symlink(bad, link))
	hook := func(argv ...string) string {
		return certTOML(`exec = ["` + strings.Join(argv, `", "`) + `"]`)
	}
	userDir := `directory DIR/user is owned by uid 65534, not root`
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{good, bad}, ""}, // not an interpreter: the argument is data
		{[]string{"/bin/sh", good}, ""},
		{[]string{"/bin/sh", "-c", "exec " + bad}, ""}, // inline code is part of the config
		{[]string{"/bin/sh", bad}, userDir + " (script or code run by sh) (keep the file in a directory only root can write, or chown root DIR/user)"},
		{[]string{"/usr/bin/env", "sh", bad}, userDir},
		{[]string{link}, userDir + " (reached through symlink DIR/hook) (keep the file in a directory only root can write, or chown root DIR/user)"},
		{[]string{"/bin/sh", link}, userDir + " (reached through symlink DIR/hook)"},
	} {
		got := parseLines(t, hook(tc.argv...), dir)
		if tc.want == "" {
			if got != nil {
				t.Errorf("%v refused: %v", tc.argv, got)
			}
			continue
		}
		if len(got) != 1 || !strings.HasPrefix(got[0], `c.toml:9: cert "web": key "exec": `) || !strings.Contains(got[0], tc.want) {
			t.Errorf("%v: errors %q, want one at c.toml:9 key exec containing %q", tc.argv, got, tc.want)
		}
	}
}

func TestPKCS12Iterations(t *testing.T) {
	base := []string{`pkcs12_file = "/srv/web/web.p12"`, `pkcs12_password_file = "/etc/pw"`}
	c, err := Parse("t.toml", []byte(certTOML(base...)), testOpts)
	if err != nil || c.Certs["web"].PKCS12Iterations != 100_000 {
		t.Fatalf("default: %v %v", err, c)
	}
	c, err = Parse("t.toml", []byte(certTOML(append(base, `pkcs12_iterations = 600000`)...)), testOpts)
	if err != nil || c.Certs["web"].PKCS12Iterations != 600_000 {
		t.Fatalf("explicit: %v", err)
	}
	for _, n := range []string{"0", "2048", "20000000"} {
		_, err := Parse("t.toml", []byte(certTOML(append(base, `pkcs12_iterations = `+n)...)), testOpts)
		sameLines(t, errLines(t, err, false), []string{`cert "web": key "pkcs12_iterations": pkcs12_iterations ` + n +
			` is out of range (use a count from 10000 to 10000000; the default is 100000, as for the encrypted key)`})
	}
}

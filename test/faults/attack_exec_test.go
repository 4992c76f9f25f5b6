package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// Item 3: the operator keeps a template source in the service's
// directory. check must refuse it; and when the service user points it
// at the local CA key, the next issuance must not render that key into
// a file the user can read.
func attackTemplateSource(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	a.issueOnce(t)
	caKey := filepath.Join(a.state, "ca", "ca", "ca.key")
	keyPEM, err := os.ReadFile(caKey)
	if err != nil {
		t.Fatalf("the local CA key is not where the attack expects it: %v", err)
	}
	as(t, svc, a.expand(`printf 'server_name {{.CommonName}};\n' > {{out}}/site.conf.tmpl`))
	a.write(t, attackBase+`
[[certs.web.templates]]
source = "{{out}}/site.conf.tmpl"
dest = "{{out}}/site.conf"
mode = "0644"
`)
	// The refusal names the key and the first untrusted part of the
	// source's path: the file or the service user's directory.
	wantExit(t, "check with a template source the service user owns", certagent(t, "check", "--config", a.config), 2, `key "source"`, a.out)
	as(t, svc, a.expand(`ln -sfn `+caKey+` {{out}}/site.conf.tmpl`))
	r := certagent(t, "renew", "--force", "--config", a.config)
	if r.code == 0 {
		t.Errorf("renew with the template source linked to the CA key: want a refusal, got %s", r)
	}
	out, _ := os.ReadFile(a.path("site.conf"))
	if lines := strings.Split(strings.TrimSpace(string(keyPEM)), "\n"); len(lines) > 2 && strings.Contains(string(out), lines[1]) {
		t.Errorf("the local CA key was rendered into %s, readable by %s", a.path("site.conf"), svc.name)
	}
}

// hookScript is what the service user's shell script does as root:
// take the decoy. FILE is the script's path.
const hookScript = `printf '#!/bin/sh\nchown {{svc}} {{decoy}}\nchmod 0666 {{decoy}}\n' > FILE && chmod 0755 FILE`

// Item 4a: exec[0] is a root-owned interpreter, but the script it runs
// belongs to the service user.
func attackHookScriptArg(t *testing.T, svc, other account) {
	for _, c := range []struct{ interp, script string }{
		{"/bin/sh", hookScript},
		{"/usr/bin/python3", `printf 'import os\nos.chown("{{decoy}}", ` + strconv.Itoa(svc.uid) + `, -1)\nos.chmod("{{decoy}}", 0o666)\n' > FILE`},
	} {
		if _, err := os.Stat(c.interp); err != nil {
			continue
		}
		a := newAttackEnv(t, svc, other)
		script := a.path("reload")
		as(t, svc, a.expand(strings.ReplaceAll(c.script, "FILE", script)))
		a.write(t, attackBase+`exec = ["`+c.interp+`", "`+script+`"]
`)
		wantExit(t, "check with "+c.interp+" running the service user's script", certagent(t, "check", "--config", a.config), 2, `key "exec"`, a.out)
		certagent(t, "renew", "--force", "--config", a.config)
		a.decoyIntact(t)
	}
}

// Item 4b: exec[0] is a root-owned link, in root's directory, to a
// program in a directory that later passes to the service user, who
// replaces the program. The reload that follows is rejected, and the
// next renewal must not run the replaced program as root either.
func attackHookTargetSwap(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	hooks, appBin := a.rootDir(t, "hooks"), a.rootDir(t, "app/bin")
	prog := filepath.Join(appBin, "reload")
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(hooks, "reload")
	if err := os.Symlink(prog, link); err != nil {
		t.Fatal(err)
	}
	a.write(t, attackBase+`exec = ["`+link+`"]
`)
	d := startDaemon(t, a.env)
	d.await(1, 30*time.Second, "event=hook", "hook done")
	// The operator hands app/ to the service, which swaps the program.
	if err := os.Chown(appBin, svc.uid, svc.gid); err != nil {
		t.Fatal(err)
	}
	as(t, svc, a.expand("rm "+prog+" && "+strings.ReplaceAll(hookScript, "FILE", prog)))
	d.signal(syscall.SIGHUP)
	d.await(1, 30*time.Second, "config_rejected")
	hooksBefore := len(d.lines("hook"))
	// The user deletes cert.pem: the daemon repairs it, and its hook is due.
	as(t, svc, a.expand(`rm {{out}}/cert.pem`))
	eventually(t, 30*time.Second, "the re-issue after cert.pem was removed, and a hook line after it", func() bool {
		return d.count("event=renewed", "cert=web")+d.count("event=issued", "cert=web") >= 2 && len(d.lines("hook")) > hooksBefore
	})
	a.decoyIntact(t)
	t.Logf("hook lines:\n%s", strings.Join(d.lines("hook"), "\n"))
	if len(d.lines("hook done")) > 1 {
		t.Errorf("the daemon ran the replaced hook program as root:\n%s", strings.Join(d.lines("hook"), "\n"))
	}
}

// Item 5: a template that loops (nearly) forever. check must return
// with a config error; the 60 s bound is a hang guard, not a speed test.
func attackTemplateLoop(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	tpl := a.rootDir(t, "tpl")
	writeFile(t, filepath.Join(tpl, "loop.tmpl"), []byte("{{range 1000000000000}}{{end}}\n"))
	a.write(t, attackBase+`
[[certs.web.templates]]
source = "{{dir}}/tpl/loop.tmpl"
dest = "{{out}}/loop.conf"
`)
	for _, cmd := range []string{"check", "run"} {
		r, ok := runBounded(t, 60*time.Second, cmd, "--config", a.config)
		if !ok {
			t.Fatalf("certagent %s did not return within 60 s on a template with {{range 1000000000000}}", cmd)
		}
		wantExit(t, cmd+" with an unbounded template loop", r, 2, `key "source"`, "loop.tmpl")
	}
}

var iterationRe = regexp.MustCompile(`Iteration (\d+)`)

// Item 9: the .p12 next to an encrypted key must be as hard to brute
// force as the key: its key bag, cert bag and MAC use the configured
// PBKDF2 iteration count, by default the PKCS#8 key's 100 000.
func attackPKCS12Iterations(t *testing.T, svc, other account) {
	openssl := testbin.NeedTool(t, "openssl")
	a := newAttackEnv(t, svc, other)
	pass := filepath.Join(a.dir, "p12.pass")
	registerSecret("Attack-P12-pass-9!")
	writeFile(t, pass, []byte("Attack-P12-pass-9!\n"))
	for _, c := range []struct {
		extra, want string
	}{{"", "100000"}, {"pkcs12_iterations = 250000\n", "250000"}} {
		a.write(t, attackBase+`pkcs12_file = "{{out}}/web.p12"
pkcs12_password_file = "`+pass+`"
`+c.extra)
		if r := certagent(t, "renew", "--force", "--config", a.config); r.code != 0 {
			t.Errorf("renew with %q: %s", c.extra, r)
			continue
		}
		out, err := exec.Command(openssl, "pkcs12", "-info", "-noout", "-in", a.path("web.p12"), "-passin", "file:"+pass).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs12 -info: %v\n%s", err, out)
		}
		its := iterationRe.FindAllStringSubmatch(string(out), -1)
		if len(its) < 2 {
			t.Fatalf("openssl pkcs12 -info shows %d iteration counts, want the MAC's and the bags':\n%s", len(its), out)
		}
		for _, m := range its {
			if m[1] != c.want {
				t.Errorf("with %q: .p12 uses %s PBKDF2 iterations, want %s:\n%s", c.extra, m[1], c.want, out)
				break
			}
		}
	}
}

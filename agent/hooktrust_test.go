package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// webCert is one locally issued cert "web" with its files under out/.
const webCert = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "{{dir}}/out/web.pem"
key_file = "{{dir}}/out/web.key"
`

// TestHookRefusedAtRunStaysPending: right before a hook runs, its program
// and the script its interpreter runs are checked again (issue 12 item
// 4). The config here was accepted (file checks off, as after a SIGHUP
// that kept an older config), and the files live in a directory the
// service user owns: the hook is not run, the reason is logged, and it
// stays pending until the files are trusted, when it runs once.
func TestHookRefusedAtRunStaysPending(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	for _, tc := range []struct{ name, exec string }{
		{"interpreter script", `["/bin/sh", "{{dir}}/user/reload.sh"]`},
		{"root link to the user's program", `["{{dir}}/hook"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ta := newTestAgent(t, webCert+"exec = "+tc.exec+"\n")
			user := filepath.Join(ta.dir, "user")
			must(t, os.Mkdir(user, 0o755))
			script := filepath.Join(user, "reload.sh")
			log := filepath.Join(ta.dir, "hook.log")
			must(t, os.WriteFile(script, []byte("#!/bin/sh\necho ran >> "+log+"\n"), 0o755))
			must(t, os.Symlink(script, filepath.Join(ta.dir, "hook")))
			must(t, os.Chown(user, 65534, 65534))

			ctx := context.Background()
			ta.pass(ctx, passOptions{})
			if _, err := os.Stat(log); err == nil {
				t.Fatal("a hook whose files the service user controls was run")
			}
			pending, err := ta.st.PendingIntents()
			if err != nil || len(pending) != 1 || pending[0].Action != actionExec || pending[0].Cert != "web" {
				t.Fatalf("pending = %+v (%v), want the hook of web", pending, err)
			}
			logs := ta.logs()
			if !strings.Contains(logs, "hook not run: its files fail the trust check; it stays pending") ||
				!strings.Contains(logs, "directory "+user+" is owned by uid 65534, not root") {
				t.Fatalf("refusal not logged with its reason:\n%s", logs)
			}
			if ta.pendingRetry.IsZero() {
				t.Error("no retry scheduled for the pending hook")
			}

			must(t, os.Chown(user, 0, 0))
			ta.pass(ctx, passOptions{})
			if b, _ := os.ReadFile(log); string(b) != "ran\n" {
				t.Fatalf("hook log %q after the files were fixed, want one run", b)
			}
			if p, _ := ta.st.PendingIntents(); len(p) != 0 {
				t.Errorf("still pending after the run: %+v", p)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTemplateSourceCheckedAtEveryRead: the template source is read
// through the trust rule at each render, not only at load (issue 12 item
// 3). Once the service user controls the source's directory and points
// the source at root's CA key, the renewal fails and neither the key's
// bytes nor anything else reach the destination the user can read.
func TestTemplateSourceCheckedAtEveryRead(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	ta := newTestAgent(t, webCert+`[[certs.web.templates]]
source = "{{dir}}/tmpl/a.tmpl"
dest = "{{dir}}/out/a.conf"
mode = "0644"
`)
	tdir := filepath.Join(ta.dir, "tmpl")
	src := filepath.Join(tdir, "a.tmpl")
	dest := filepath.Join(ta.dir, "out/a.conf")
	must(t, os.Mkdir(tdir, 0o755))
	must(t, os.WriteFile(src, []byte("cert={{.CertFile}}\n"), 0o644))
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	want := "cert=" + filepath.Join(ta.dir, "out/web.pem") + "\n"
	if b, _ := os.ReadFile(dest); string(b) != want {
		t.Fatalf("a.conf = %q, want %q", b, want)
	}

	caKey := filepath.Join(ta.dir, "ca.key")
	must(t, os.WriteFile(caKey, []byte("SECRET-CA-KEY\n"), 0o600))
	must(t, os.Chown(tdir, 65534, 65534))
	must(t, os.Remove(src))
	must(t, os.Symlink(caKey, src))
	must(t, os.Lchown(src, 65534, 65534))
	err := ta.RenewOnce(ctx, nil, true)
	if err == nil || !strings.Contains(ta.logs()+err.Error(), "directory "+tdir+" is owned by uid 65534, not root") {
		t.Fatalf("renewal with a redirected template: %v\n%s", err, ta.logs())
	}
	if b, _ := os.ReadFile(dest); string(b) != want {
		t.Fatalf("a.conf = %q after the refused render, want the old %q", b, want)
	}
}

package faults

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// asNobody runs argv as uid/gid 65534, the service user who owns the
// output directory in these attacks, and fails the test if it fails.
func asNobody(t *testing.T, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as uid %d: %v: %v\n%s", nobody, argv, err, out)
	}
}

// openFor makes dir (and the directories above it up to the test's
// temp dir) traversable, and gives dir to the service user.
func openFor(t *testing.T, e *env, dir string) {
	t.Helper()
	for p := dir; ; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if p == filepath.Dir(e.dir) || p == "/" { // the test's own temp dir
			break
		}
	}
	if err := os.Chown(dir, nobody, nobody); err != nil {
		t.Fatal(err)
	}
}

// TestAttackHeadersFileFIFO: the service user makes a FIFO where a
// webhook's headers_file points (a path in their directory). `certagent
// check` reports it at once; before, validation opened it for reading and
// blocked until that user wrote to it (the daemon's start and every
// reload too).
func TestAttackHeadersFileFIFO(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	hooks := filepath.Join(e.dir, "hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	openFor(t, e, hooks)
	fifo := filepath.Join(hooks, "ops.headers")
	asNobody(t, "/usr/bin/mkfifo", "-m", "0600", fifo)
	e.write(t, oneCert+`
[notify.ops]
type = "webhook"
url = "https://hooks.example.com/certagent"
headers_file = "`+fifo+`"
`)
	r := certagent(t, "check", "--config", e.config)
	if r.code != 2 || !strings.Contains(r.stderr, `key "headers_file"`) || !strings.Contains(r.stderr, "is not a regular file") {
		t.Errorf("check with a FIFO headers_file made by uid %d: want exit 2 naming headers_file, got %s", nobody, r)
	}
	if !t.Failed() {
		figure(t, "headers_file FIFO planted by the service user: check reports it and returns (held 1 of 1)")
	}
}

// TestAttackRevokeSubstitution: the service user who owns web's output
// directory copies api's certificate (same CA) over web's cert_file. An
// operator revoking web (its key leaked) must not revoke api instead.
func TestAttackRevokeSubstitution(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.write(t, oneCert+`
[certs.api]
issuer = "ca"
dns_names = ["api.example.com"]
key_type = "ec256"
cert_file = "{{out}}/api/cert.pem"
key_file = "{{out}}/api/key.pem"
`)
	if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
		t.Fatalf("initial renew: %s", r)
	}
	openFor(t, e, e.path("web"))
	if err := os.Chmod(e.path("api/cert.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	asNobody(t, "/bin/sh", "-c", `cat "$1" > "$2.new" && mv -f "$2.new" "$2"`, "sh", e.path("api/cert.pem"), e.path("web/cert.pem"))
	r := certagent(t, "revoke", "--config", e.config, "--no-reissue", "--reason", "keyCompromise", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "not revoking") {
		t.Errorf("revoke web with api's cert in its cert_file: want exit 1 and a refusal, got %s", r)
	}
	st := certagent(t, "status", "--local", "--config", e.config)
	if strings.Contains(st.stdout, "revoked") {
		t.Errorf("a cert shows revoked after the refused revoke:\n%s", st.stdout)
	}
	if !t.Failed() {
		figure(t, "revoke with another cert planted in cert_file by the service user: refused, nothing revoked (held 1 of 1)")
	}
}

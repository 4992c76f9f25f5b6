package faults

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// The attack suite (issue 12) plays the service user who owns a cert's
// output directory (svcUser) and one more local user (otherUser). Both
// are real accounts made with useradd for the run and removed after;
// every attack step runs as them through setpriv, never as root.
const (
	svcUser   = "certagent-svc"
	otherUser = "certagent-other"
)

// decoyBytes is what the root-owned decoy file holds; no attack may
// change its owner, its mode or these bytes.
const decoyBytes = "decoy: root's own file; certagent must never write, chown, chmod or remove it\n"

// account is a local user the suite created.
type account struct {
	name     string
	uid, gid int
}

// attackEnv is one attack's host: the usual env (config, state dir,
// output dir) where the output dir belongs to the service user, and a
// root-owned decoy next to it.
type attackEnv struct {
	*env
	svc, other account
	// decoy is the main decoy; decoys lists it and any planted later.
	decoy  string
	decoys []string
}

// attackBase is oneCert with files the service user owns, written
// straight into its output directory, as a service's tls/ directory is.
// Attacks append keys of [certs.web] to it.
var attackBase = strings.Replace(strings.ReplaceAll(oneCert, "{{out}}/web/", "{{out}}/"), "cert_file =",
	"owner = \""+svcUser+"\"\ngroup = \""+svcUser+"\"\ncert_mode = \"0644\"\ncert_file =", 1)

// attackUsers creates svcUser and otherUser (idempotent) and removes
// them when t ends.
func attackUsers(t *testing.T) (svc, other account) {
	t.Helper()
	mk := func(name string) account {
		t.Helper()
		if _, err := user.Lookup(name); err != nil {
			out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
				"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
			if err != nil {
				t.Fatalf("useradd %s: %v\n%s", name, err, out)
			}
		}
		u, err := user.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		t.Cleanup(func() {
			if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
				t.Errorf("userdel %s: %v\n%s", name, err, out)
			}
		})
		return account{name: name, uid: uid, gid: gid}
	}
	return mk(svcUser), mk(otherUser)
}

// newAttackEnv makes a host for one attack: every directory down to the
// env is root-owned 0755 (so the users can reach their directory), the
// output dir belongs to the service user, and the decoy is planted.
func newAttackEnv(t *testing.T, svc, other account) *attackEnv {
	t.Helper()
	a := &attackEnv{env: newEnv(t), svc: svc, other: other}
	for _, d := range []string{filepath.Dir(a.dir), a.dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(a.out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(a.out, svc.uid, svc.gid); err != nil {
		t.Fatal(err)
	}
	a.decoy = a.plantDecoy(t, filepath.Join(a.dir, "decoy"))
	t.Cleanup(func() { a.decoyIntact(t) })
	return a
}

// plantDecoy writes a root-owned 0600 decoy at p and returns p.
func (a *attackEnv) plantDecoy(t *testing.T, p string) string {
	t.Helper()
	if err := os.WriteFile(p, []byte(decoyBytes), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 0, 0); err != nil {
		t.Fatal(err)
	}
	a.decoys = append(a.decoys, p)
	return p
}

// expand is env.expand plus {{decoy}}, {{svc}} and {{other}}.
func (a *attackEnv) expand(s string) string {
	return strings.NewReplacer("{{decoy}}", a.decoy, "{{svc}}", a.svc.name, "{{other}}", a.other.name).Replace(a.env.expand(s))
}

func (a *attackEnv) write(t *testing.T, tmpl string) {
	t.Helper()
	a.env.write(t, a.expand(tmpl))
}

// decoyIntact fails t unless every decoy is still root's, 0600 and
// holds decoyBytes; it reports every difference.
func (a *attackEnv) decoyIntact(t *testing.T) {
	t.Helper()
	for _, p := range a.decoys {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("decoy %s: %v", p, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o600 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("decoy %s is now %v owned by %d:%d, want a regular file 0600 owned by 0:0", p, fi.Mode(), st.Uid, st.Gid)
		}
		if b, _ := os.ReadFile(p); string(b) != decoyBytes {
			t.Errorf("decoy %s bytes changed: %.120q", p, b)
		}
	}
}

// as runs a shell script as u (setpriv: real and effective uid and gid,
// no supplementary groups) and returns its output; a failure fails t.
func as(t *testing.T, u account, script string) string {
	t.Helper()
	out, err := asUser(u, script)
	if err != nil {
		t.Fatalf("as %s: %s: %v\n%s", u.name, script, err, out)
	}
	return out
}

// asUser is as without failing: for steps the kernel may refuse.
func asUser(u account, script string) (string, error) {
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(u.uid), "--regid="+strconv.Itoa(u.gid),
		"--clear-groups", "--", "/bin/sh", "-euc", script)
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// rootDir makes a.dir/rel (and its parents), root-owned 0755: a
// directory only root can write, and returns its path.
func (a *attackEnv) rootDir(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join(a.dir, rel)
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// mkdirOwned makes dir (root, 0755) and gives it to u.
func mkdirOwned(t *testing.T, dir string, u account) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, u.uid, u.gid); err != nil {
		t.Fatal(err)
	}
}

// attackTally counts the attacks of one run of TestAttacks.
type attackTally struct{ tried, held, skipped atomic.Int64 }

// attack runs one attack as a subtest. It counts as tried when it ran
// (not filtered out by -run, not skipped for a missing tool) and as held
// when it passed.
func (tl *attackTally) attack(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	ran, skipped := false, false
	ok := t.Run(name, func(t *testing.T) {
		ran = true
		defer func() { skipped = t.Skipped() }()
		f(t)
	})
	switch {
	case skipped:
		tl.skipped.Add(1)
	case ran:
		tl.tried.Add(1)
		if ok {
			tl.held.Add(1)
		}
	}
}

// wantExit fails t unless r exited with code and printed every one of subs.
func wantExit(t *testing.T, what string, r result, code int, subs ...string) {
	t.Helper()
	if r.code != code || !containsAll(r.stderr+r.stdout, subs) {
		t.Errorf("%s: want exit %d and %q, got %s", what, code, subs, r)
	}
}

package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/certagent/certagent/internal/safefile"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// decoy is a root-owned 0600 file whose owner, mode and bytes must survive.
type decoy struct {
	path string
	data []byte
}

func newDecoy(t *testing.T) decoy {
	t.Helper()
	d := decoy{path: filepath.Join(t.TempDir(), "root-only"), data: []byte("root secret\n")}
	if err := os.WriteFile(d.path, d.data, 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

func (d decoy) assertUntouched(t *testing.T) {
	t.Helper()
	st := statT(t, d.path)
	if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o600 || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		t.Fatalf("decoy %s now uid %d gid %d mode %o", d.path, st.Uid, st.Gid, st.Mode)
	}
	if b := mustRead(t, d.path); !bytes.Equal(b, d.data) {
		t.Fatalf("decoy %s now holds %q", d.path, b)
	}
}

func followFiles(dir string, p pair, uid int) []File {
	files := pairFiles(dir, p)
	for i := range files {
		files[i].FollowSymlinks = true
		files[i].UID, files[i].GID = uid, uid
	}
	return files
}

// Issue 12 item 1: with follow_symlinks = true, a final link the service
// user planted (`ln -s /root/file tls/key.pem`) must not be followed: the
// renewal would make the root file the user's and put the new key in it.
func TestFollowSymlinksRefusesPlantedFinalLink(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	victim := newDecoy(t)
	out := hostiletest.Dir(t, t.TempDir(), "tls")
	link := hostiletest.Link(t, victim.path, filepath.Join(out, "key.pem"))
	_, err := s.Commit("web", followFiles(out, newPair(t, "a"), hostiletest.ServiceUID), nil)
	if !errors.Is(err, safefile.ErrUntrusted) || !errors.Is(err, syscall.ELOOP) || !strings.Contains(err.Error(), link) {
		t.Fatalf("error %v: want a refusal naming %s", err, link)
	}
	victim.assertUntouched(t)
	if _, err := os.Lstat(filepath.Join(out, "cert.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("cert written although the set was refused")
	}
	assertNoTemps(t, out, filepath.Dir(victim.path))
}

// Item 1, second half: a root-owned link in a root-only directory is
// trusted, but its target's directories must be trusted too. A link into
// a directory the service user owns is refused, since the user could
// swap what is there.
func TestFollowSymlinksRefusesTargetInUntrustedDir(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	base := t.TempDir()
	user := hostiletest.Dir(t, base, "user")
	linkDir := filepath.Join(base, "etc")
	if err := os.Mkdir(linkDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"key.pem", "cert.pem"} {
		if err := os.Symlink(filepath.Join(user, n), filepath.Join(linkDir, n)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Commit("web", followFiles(linkDir, newPair(t, "a"), -1), nil)
	if !errors.Is(err, safefile.ErrUntrusted) || !strings.Contains(err.Error(), user) {
		t.Fatalf("error %v: want a refusal naming %s", err, user)
	}
	if ents, _ := os.ReadDir(user); len(ents) != 0 {
		t.Fatalf("wrote into the untrusted target directory: %v", ents)
	}
	// The same links into a root-only directory are followed.
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"key.pem", "cert.pem"} {
		l := filepath.Join(linkDir, n)
		if err := os.Remove(l); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(real, n), l); err != nil {
			t.Fatal(err)
		}
	}
	p := newPair(t, "b")
	if _, err := s.Commit("web", followFiles(linkDir, p, -1), nil); err != nil {
		t.Fatalf("trusted link into a root-only directory refused: %v", err)
	}
	assertOnDisk(t, real, p)
}

// Issue 12 item 2: a second hard link to a file whose owner and mode are
// already right (`ln tls/cert.pem ../backup.crt`, rsnapshot, cp -l) must
// not block renewal. Only a chmod/chown through such a file is refused.
func TestHardLinkedUnchangedFileDoesNotBlockRenewal(t *testing.T) {
	s := newStore(t)
	out, backup := t.TempDir(), t.TempDir()
	a := newPair(t, "a")
	if _, err := s.Commit("web", pairFiles(out, a), nil); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(out, "cert.pem"), filepath.Join(backup, "cert.pem")); err != nil {
		t.Fatal(err)
	}
	// New key, same cert bytes: cert.pem is the unchanged, linked file.
	renewed := pair{key: newPair(t, "b").key, cert: a.cert}
	res, err := s.Commit("web", pairFiles(out, renewed), nil)
	if err != nil {
		t.Fatalf("renewal with a hard-linked unchanged file: %v", err)
	}
	if !slices.Equal(res.Changed, []string{filepath.Join(out, "key.pem")}) || len(res.Fixed) != 0 {
		t.Fatalf("result %+v", res)
	}
	assertOnDisk(t, out, renewed)
	// A mode that needs fixing on the linked file is still refused: the
	// chmod would change the backup's copy too.
	if err := os.Chmod(filepath.Join(backup, "cert.pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = s.Commit("web", pairFiles(out, renewed), nil)
	if err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Fatalf("chmod through a hard link: %v", err)
	}
	if m := statT(t, filepath.Join(backup, "cert.pem")).Mode & 0o7777; m != 0o600 {
		t.Fatalf("backup copy mode changed to %04o", m)
	}
}

// Every writer of the state directory names its temps with
// safefile.TempName, and Recover sweeps them all, wherever they are; a
// release before that used other names, swept too.
func TestRecoverSweepsEveryWritersTemps(t *testing.T) {
	s := newStore(t)
	mk := func(rel string, dir bool) string {
		p := filepath.Join(s.Dir(), rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if dir {
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(p, "ca.key"), []byte("k"), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	temps := []string{
		mk(filepath.Join("removed-keys", safefile.TempName("web")), false),
		mk(filepath.Join("acme", "le", safefile.TempName("account.key")), false),
		mk(filepath.Join("acme", "le", ".account.json.tmp-123456789"), false),
		mk(filepath.Join("ca", safefile.TempName("local")), true),
		mk(filepath.Join("ca", ".local.new-42"), true),
		mk(filepath.Join(previousDir, "web", safefile.TempName(previousFile)), false),
		mk(safefile.TempName(statusFile), false),
	}
	keep := []string{
		mk(filepath.Join("removed-keys", "web"), false),
		mk(filepath.Join("acme", "le", "account.key"), false),
		mk(filepath.Join("ca", "local", "ca.key"), false),
	}
	rep, err := s.Recover()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range temps {
		if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("temp %s not swept", p)
		}
		if !slices.Contains(rep.TempsRemoved, p) {
			t.Errorf("temp %s not reported in %v", p, rep.TempsRemoved)
		}
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("swept a file that is no temp: %v", err)
		}
	}
}

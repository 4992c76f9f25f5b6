package safefile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/certagent/certagent/internal/safefile"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

func TestTempNames(t *testing.T) {
	for _, base := range []string{"key.pem", "account.key", strings.Repeat("x", 250), "web"} {
		n := safefile.TempName(base)
		if !safefile.IsTemp(n) || len(n) > 255 {
			t.Errorf("TempName(%q) = %q: IsTemp false or too long", base, n)
		}
	}
	for _, n := range []string{"key.pem", ".key.pem", ".key.pem.certagent-xyz.tmp", "key.pem.certagent-0123456789abcdef.tmp",
		".a.certagent-0123456789abcdef.tmp/x", ".a.certagent-0123456789abcde.tmp"} {
		if safefile.IsTemp(n) {
			t.Errorf("IsTemp(%q) = true", n)
		}
	}
}

// Owner and mode are final before the first byte: a reader racing the
// write never sees bytes under a looser mode.
func TestReplaceSetsModeBeforeBytes(t *testing.T) {
	dir := t.TempDir()
	d, err := safefile.OpenDir(filepath.Join(dir, "new", "sub"), true, 0o750)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st, _ := os.Stat(filepath.Join(dir, "new")); st.Mode().Perm() != 0o750 {
		t.Fatalf("created dir mode %v, want 0750 whatever the umask", st.Mode())
	}
	var seen os.FileMode
	ops := &safefile.Ops{AfterChmod: func(f *os.File) {
		st, _ := f.Stat()
		seen = st.Mode().Perm()
		if st.Size() != 0 {
			t.Error("bytes written before the mode was set")
		}
	}}
	if err := d.Replace("key.pem", []byte("secret"), safefile.Perm{Mode: 0o640, UID: -1, GID: -1}, ops); err != nil {
		t.Fatal(err)
	}
	if seen != 0o640 {
		t.Fatalf("mode before bytes %v, want 0640", seen)
	}
	if b, _ := os.ReadFile(d.Join("key.pem")); string(b) != "secret" {
		t.Fatalf("content %q", b)
	}
	if ents, _ := os.ReadDir(d.Path()); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
}

func TestResolveRefusesUntrustedLinks(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	user := hostiletest.Dir(t, base, "user")
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	hostiletest.Link(t, root, filepath.Join(user, "dirlink"))
	hostiletest.Link(t, filepath.Join(root, "f"), filepath.Join(user, "filelink"))
	// A root-owned link in the user's directory is no better: the user
	// can rename it away and put their own in its place.
	if err := os.Symlink(root, filepath.Join(user, "rootlink")); err != nil {
		t.Fatal(err)
	}
	// A sticky, world-writable directory (like /tmp) keeps root's links.
	sticky := filepath.Join(base, "sticky")
	if err := os.Mkdir(sticky, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(root, filepath.Join(sticky, "ok")); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		path   string
		follow bool
		ok     bool
	}{
		{filepath.Join(user, "dirlink", "f"), true, false},
		{filepath.Join(user, "rootlink", "f"), true, false},
		{filepath.Join(user, "filelink"), true, false},
		{filepath.Join(user, "filelink"), false, false},
		{filepath.Join(sticky, "ok", "f"), false, true},
		{filepath.Join(user, "plain"), false, true},
	}
	for _, c := range cases {
		d, _, err := safefile.Resolve(c.path, safefile.Opts{Follow: c.follow})
		d.Close()
		if c.ok != (err == nil) {
			t.Errorf("Resolve(%s, follow=%v) = %v, want ok=%v", c.path, c.follow, err, c.ok)
		}
		if err != nil && (!errors.Is(err, safefile.ErrUntrusted) || !errors.Is(err, syscall.ELOOP)) {
			t.Errorf("Resolve(%s): %v is not an untrusted-path refusal", c.path, err)
		}
	}
	for _, p := range []string{filepath.Join(user, "filelink"), filepath.Join(user, "dirlink", "f")} {
		if _, err := safefile.Lstat(p); !errors.Is(err, safefile.ErrUntrusted) {
			t.Errorf("Lstat(%s) = %v, want a refusal", p, err)
		}
		if err := safefile.RemoveFile(p, true); !errors.Is(err, safefile.ErrUntrusted) {
			t.Errorf("RemoveFile(%s) = %v, want a refusal", p, err)
		}
	}
}

// Sweep removes temps (files and directories) but never follows a
// symlink out of the directory it sweeps.
func TestSweepStaysInside(t *testing.T) {
	state, outside := t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, safefile.TempName("x"))
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(state, "link")); err != nil {
		t.Fatal(err)
	}
	tmpDir := filepath.Join(state, "ca", safefile.TempName("local"))
	if err := os.MkdirAll(tmpDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmpDir, "ca.key"), []byte("k"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := safefile.Sweep(state, 2)
	if len(got) != 1 || got[0] != tmpDir {
		t.Fatalf("Sweep removed %v, want only %s", got, tmpDir)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("swept through a symlink: %v", err)
	}
}

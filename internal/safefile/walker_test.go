package safefile_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/certagent/certagent/internal/safefile"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// TestWalkerLstatIsLstat: a Walker says what Lstat says about every kind
// of entry, a planted link included, while it shares the walk of their
// directory; a directory replaced after Close is walked again.
func TestWalkerLstatIsLstat(t *testing.T) {
	base, out, secret := walkerFixture(t)
	if err := os.Symlink(secret, filepath.Join(base, "trusted.crt")); err != nil {
		t.Fatal(err)
	}
	w := safefile.NewWalker()
	defer w.Close()
	for _, p := range []string{
		filepath.Join(out, "c.crt"), filepath.Join(out, "planted.crt"), filepath.Join(out, "missing.crt"),
		filepath.Join(base, "trusted.crt"), filepath.Join(base, "nodir", "x.crt"), filepath.Join(out, "c.crt", "x"),
	} {
		want, wantErr := safefile.Lstat(p)
		got, err := w.Lstat(p)
		if (err == nil) != (wantErr == nil) || errors.Is(err, safefile.ErrUntrusted) != errors.Is(wantErr, safefile.ErrUntrusted) ||
			errors.Is(err, fs.ErrNotExist) != errors.Is(wantErr, fs.ErrNotExist) {
			t.Errorf("%s: Walker error %v, Lstat error %v", p, err, wantErr)
			continue
		}
		if err == nil && (got.Ino != want.Ino || got.Dev != want.Dev || got.Mode != want.Mode) {
			t.Errorf("%s: Walker says inode %d mode %o, Lstat %d %o", p, got.Ino, got.Mode, want.Ino, want.Mode)
		}
	}
	if _, err := w.Lstat(filepath.Join(out, "planted.crt")); !errors.Is(err, safefile.ErrUntrusted) {
		t.Errorf("a link planted by the service user was not refused: %v", err)
	}
	// The service user swaps its directory: a Walker made afterwards (the
	// next pass) sees the new one.
	if err := os.Rename(out, out+".old"); err != nil {
		t.Fatal(err)
	}
	hostiletest.Dir(t, base, "out")
	w.Close()
	if _, err := w.Lstat(filepath.Join(out, "c.crt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after the swap and Close, the old directory's file is still seen: %v", err)
	}
}

// TestWalkerResolveIsResolve: a Walker's Resolve says what Resolve says
// (the same directory, name and verdict) for every kind of final
// component, a planted link and a directory to create included, and the
// Dir it returns is the caller's to close.
func TestWalkerResolveIsResolve(t *testing.T) {
	base, out, _ := walkerFixture(t)
	if err := os.Mkdir(filepath.Join(out, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := safefile.NewWalker()
	defer w.Close()
	for _, o := range []safefile.Opts{{}, {Follow: true}, {Create: true, DirMode: 0o750}} {
		for _, p := range []string{
			filepath.Join(out, "c.crt"), filepath.Join(out, "missing.crt"), filepath.Join(out, "planted.crt"),
			filepath.Join(out, "sub"), filepath.Join(base, "new", "x.crt"),
		} {
			want, wantBase, wantErr := safefile.Resolve(p, o)
			got, gotBase, err := w.Resolve(p, o)
			if (err == nil) != (wantErr == nil) || errors.Is(err, safefile.ErrUntrusted) != errors.Is(wantErr, safefile.ErrUntrusted) {
				t.Errorf("%s %+v: Walker error %v, Resolve error %v", p, o, err, wantErr)
			} else if err == nil && (got.Path() != want.Path() || gotBase != wantBase) {
				t.Errorf("%s %+v: Walker %s %s, Resolve %s %s", p, o, got.Path(), gotBase, want.Path(), wantBase)
			}
			got.Close()
			want.Close()
		}
	}
	// The descriptors handed out are the callers': closing them leaves
	// the Walker's own usable.
	d, name, err := w.Resolve(filepath.Join(out, "c.crt"), safefile.Opts{})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	d, _, err = w.Resolve(filepath.Join(out, name), safefile.Opts{})
	if err != nil {
		t.Fatalf("after closing a resolved Dir: %v", err)
	}
	d.Close()
}

// walkerFixture makes base/ (root's) holding secret.key and out/ (the
// service user's) holding c.crt and planted.crt, the service user's
// link to the secret.
func walkerFixture(t *testing.T) (base, out, secret string) {
	t.Helper()
	hostiletest.NeedRoot(t)
	base = t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	out = hostiletest.Dir(t, base, "out")
	secret = filepath.Join(base, "secret.key")
	if err := os.WriteFile(secret, []byte("root only"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "c.crt"), []byte("cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostiletest.Link(t, secret, filepath.Join(out, "planted.crt"))
	return base, out, secret
}

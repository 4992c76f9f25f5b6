package trust

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const nobody = 65534

// tree makes a trusted root-owned directory with a subdirectory "user"
// owned by nobody, as a service user's output directory would be.
func tree(t *testing.T) (trusted, user string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another user")
	}
	trusted = t.TempDir()
	user = filepath.Join(trusted, "user")
	must(t, os.Mkdir(user, 0o755))
	must(t, os.Chown(user, nobody, nobody))
	return trusted, user
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func write(t *testing.T, p string, mode os.FileMode) string {
	t.Helper()
	must(t, os.WriteFile(p, []byte("#!/bin/sh\necho "+filepath.Base(p)+"\n"), mode))
	must(t, os.Chmod(p, mode))
	return p
}

// wantErr asserts err is a trust error whose message holds want.
func wantErr(t *testing.T, err error, want string) {
	t.Helper()
	var te *Error
	if err == nil || !errors.As(err, &te) || te.Fix == "" || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want a *Error with a fix containing %q", err, want)
	}
}

func TestCheckPathRule(t *testing.T) {
	dir, user := tree(t)
	good := write(t, filepath.Join(dir, "good"), 0o644)
	if c, err := CheckPath(good); err != nil || c.Path != good {
		t.Fatalf("trusted file refused: %v %v", c.Path, err)
	}
	inUser := write(t, filepath.Join(user, "f"), 0o644)
	wantErr(t, func() error { _, err := CheckPath(inUser); return err }(), "directory "+user+" is owned by uid 65534, not root")

	owned := write(t, filepath.Join(dir, "owned"), 0o644)
	must(t, os.Chown(owned, nobody, nobody))
	wantErr(t, func() error { _, err := CheckPath(owned); return err }(), owned+" is owned by uid 65534, not root")

	gw := write(t, filepath.Join(dir, "gw"), 0o664)
	wantErr(t, func() error { _, err := CheckPath(gw); return err }(), gw+" is writable by group or others (mode 0664)")

	ow := filepath.Join(dir, "ow")
	must(t, os.Mkdir(ow, 0o757))
	must(t, os.Chmod(ow, 0o757))
	f := write(t, filepath.Join(ow, "f"), 0o644)
	wantErr(t, func() error { _, err := CheckPath(f); return err }(), "directory "+ow+" is writable by group or others (mode 0757)")

	sticky := filepath.Join(dir, "sticky")
	must(t, os.Mkdir(sticky, 0o777))
	must(t, os.Chmod(sticky, 0o777|os.ModeSticky))
	if _, err := CheckPath(write(t, filepath.Join(sticky, "f"), 0o644)); err != nil {
		t.Errorf("root file in a root-owned sticky directory refused: %v", err)
	}

	_, err := CheckPath(filepath.Join(dir, "missing"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
	wantErr(t, func() error { _, err := CheckPath(dir); return err }(), "is not a regular file")
}

// TestSymlinkChains: a link is followed only when it, and every link and
// directory on its target's path, is trusted; the error names the link
// the operator wrote.
func TestSymlinkChains(t *testing.T) {
	dir, user := tree(t)
	target := write(t, filepath.Join(dir, "target"), 0o644)

	rel := filepath.Join(dir, "rel")
	must(t, os.Symlink("./sub/../target", rel))
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	abs := filepath.Join(dir, "abs")
	must(t, os.Symlink(rel, abs))
	if c, err := CheckPath(abs); err != nil || c.Path != target {
		t.Fatalf("trusted chain: %q %v, want %s", c.Path, err, target)
	}

	// A root-owned link whose target lies in the user's directory: the
	// user can replace the target at will (issue 12, item 4b).
	inUser := write(t, filepath.Join(user, "hook"), 0o755)
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(inUser, link))
	wantErr(t, func() error { _, err := CheckPath(link); return err }(),
		"directory "+user+" is owned by uid 65534, not root (reached through symlink "+link+")")

	// A link the user owns, even in a trusted directory, is refused.
	userLink := filepath.Join(dir, "userlink")
	must(t, os.Symlink(target, userLink))
	must(t, os.Lchown(userLink, nobody, nobody))
	wantErr(t, func() error { _, err := CheckPath(userLink); return err }(), "symlink "+userLink+" is owned by uid 65534")

	// A trusted directory reached through a link into the user's tree.
	sub := filepath.Join(user, "d")
	must(t, os.Mkdir(sub, 0o755))
	write(t, filepath.Join(sub, "f"), 0o644)
	dlink := filepath.Join(dir, "dlink")
	must(t, os.Symlink(sub, dlink))
	wantErr(t, func() error { _, err := CheckPath(filepath.Join(dlink, "f")); return err }(), "directory "+user+" is owned by uid 65534")

	loop := filepath.Join(dir, "loop")
	must(t, os.Symlink(loop, loop))
	wantErr(t, func() error { _, err := CheckPath(loop); return err }(), "too many symlinks")
}

func TestOpenTrusted(t *testing.T) {
	dir, user := tree(t)
	target := write(t, filepath.Join(dir, "target"), 0o644)
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(target, link))
	f, err := OpenTrusted(link)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if !strings.Contains(string(data), "echo target") {
		t.Errorf("read %q through a trusted link", data)
	}
	secret := write(t, filepath.Join(dir, "ca.key"), 0o600)
	planted := filepath.Join(user, "tmpl")
	must(t, os.Symlink(secret, planted))
	must(t, os.Lchown(planted, nobody, nobody))
	if f, err := OpenTrusted(planted); err == nil {
		f.Close()
		t.Fatal("opened a file through a link the user planted")
	}
	fifo := filepath.Join(dir, "fifo")
	must(t, syscall.Mkfifo(fifo, 0o600))
	if f, err := OpenTrusted(fifo); err == nil {
		f.Close()
		t.Fatal("opened a FIFO")
	}
}

func TestCheckDir(t *testing.T) {
	dir, user := tree(t)
	if _, err := CheckDir(dir); err != nil {
		t.Fatal(err)
	}
	wantErr(t, func() error { _, err := CheckDir(filepath.Join(user, ".")); return err }(), "owned by uid 65534")
}

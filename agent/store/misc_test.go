package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestSymlinkTargetRefused(t *testing.T) {
	s := newStore(t)
	out, elsewhere := t.TempDir(), t.TempDir()
	victim := filepath.Join(elsewhere, "shadow")
	if err := os.WriteFile(victim, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(out, "key.pem")); err != nil {
		t.Fatal(err)
	}
	_, err := s.Commit("web", pairFiles(out, newPair(t, "a")), nil)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(out, "key.pem")) || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("error %v: want a refusal naming the symlink", err)
	}
	if string(mustRead(t, victim)) != "secret" {
		t.Fatal("wrote through the symlink")
	}
	if _, err := os.Stat(filepath.Join(out, "cert.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("cert written although the set was refused")
	}
	assertNoTemps(t, out, elsewhere)
}

func TestFollowSymlinksWritesLinkTarget(t *testing.T) {
	s := newStore(t)
	out, real := t.TempDir(), t.TempDir()
	for _, n := range []string{"key.pem", "cert.pem"} {
		if err := os.Symlink(filepath.Join(real, n), filepath.Join(out, n)); err != nil {
			t.Fatal(err)
		}
	}
	files := pairFiles(out, newPair(t, "a"))
	for i := range files {
		files[i].FollowSymlinks = true
	}
	p := pair{key: files[0].Data, cert: files[1].Data}
	if _, err := s.Commit("web", files, nil); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, real, p)
	assertOnDisk(t, out, p) // through the links, which are still links
	if fi, _ := os.Lstat(filepath.Join(out, "key.pem")); fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced by a file")
	}
	// Unchanged detection works through the link too.
	if res, err := s.Commit("web", files, nil); err != nil || len(res.Changed) != 0 {
		t.Fatalf("second commit = %+v, %v", res, err)
	}
}

// A symlink in the directory chain is followed only if root (or we) put
// it in a directory nobody else can write.
func TestUntrustedDirSymlinkRefused(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	base, real := t.TempDir(), t.TempDir()
	link := filepath.Join(base, "tls")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	p := newPair(t, "a")
	if _, err := s.Commit("web", pairFiles(link, p), nil); err != nil {
		t.Fatalf("trusted (root-owned) link refused: %v", err)
	}
	assertOnDisk(t, real, p)
	if err := os.Lchown(link, 65534, 65534); err != nil { // as if the service user planted it
		t.Fatal(err)
	}
	_, err := s.Commit("web", pairFiles(link, newPair(t, "b")), nil)
	if !errors.Is(err, syscall.ELOOP) || !strings.Contains(err.Error(), link) {
		t.Fatalf("error %v: want ELOOP naming %s", err, link)
	}
	assertOnDisk(t, real, p)
}

// TOCTOU: the output directory is swapped for a symlink to another
// directory while Commit runs. The write must land in the directory that
// was opened, never in the symlink's target.
func TestDirectorySwapDuringCommit(t *testing.T) {
	s := newStore(t)
	base, attacker := t.TempDir(), t.TempDir()
	out := filepath.Join(base, "tls")
	moved := filepath.Join(base, "tls.moved")
	swapped := false
	s.ops.afterChmod = func(f *os.File) {
		if swapped || filepath.Dir(f.Name()) != out {
			return
		}
		swapped = true
		if err := os.Rename(out, moved); err != nil {
			t.Error(err)
		}
		if err := os.Symlink(attacker, out); err != nil {
			t.Error(err)
		}
	}
	p := newPair(t, "a")
	if _, err := s.Commit("web", pairFiles(out, p), nil); err != nil {
		t.Fatal(err)
	}
	if !swapped {
		t.Fatal("swap hook did not run")
	}
	if ents, _ := os.ReadDir(attacker); len(ents) != 0 {
		t.Fatalf("files written into the symlinked directory: %v", ents)
	}
	assertOnDisk(t, moved, p)
}

func TestLockExcludesSecondStore(t *testing.T) {
	s1 := newStore(t)
	s2, err := Open(s1.Dir(), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	release, err := s1.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s2.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Lock = %v, want DeadlineExceeded while held", err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := s2.Lock(context.Background())
		if err == nil {
			r()
		}
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("second Lock returned %v while the first is held", err)
	case <-time.After(150 * time.Millisecond):
	}
	release()
	release() // idempotent
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("second Lock not granted after release")
	}
}

func TestPendingIntentsSurviveReopen(t *testing.T) {
	s := newStore(t)
	a := Intent{Unit: "a.service", Action: "restart", Cert: "web"}
	b := Intent{Unit: "b.service", Action: "reload", Cert: "web"}
	if _, err := s.Commit("web", pairFiles(t.TempDir(), newPair(t, "x")), []Intent{a, b, a}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(s.Dir(), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s2.PendingIntents()
	if err != nil || !slices.Equal(got, []Intent{a, b}) {
		t.Fatalf("after reopen: %v, %v", got, err)
	}
	if err := s2.DoneIntent(a); err != nil {
		t.Fatal(err)
	}
	if err := s2.DoneIntent(a); err != nil {
		t.Fatalf("DoneIntent of a non-pending intent: %v", err)
	}
	s3, _ := Open(s.Dir(), hclog.NewNullLogger())
	if got, _ := s3.PendingIntents(); !slices.Equal(got, []Intent{b}) {
		t.Fatalf("after DoneIntent and reopen: %v", got)
	}
}

func TestStatusAtomic0600(t *testing.T) {
	s := newStore(t)
	if _, err := s.ReadStatus(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadStatus before write: %v", err)
	}
	for _, v := range []string{`{"v":1}`, `{"v":2}`} {
		if err := s.WriteStatus([]byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := s.ReadStatus()
	if err != nil || string(b) != `{"v":2}` {
		t.Fatalf("ReadStatus = %q, %v", b, err)
	}
	if m := statT(t, filepath.Join(s.Dir(), statusFile)).Mode & 0o7777; m != 0o600 {
		t.Fatalf("status mode %04o", m)
	}
	assertNoTemps(t, s.Dir())
	for _, d := range []string{s.Dir(), filepath.Join(s.Dir(), journalDir), filepath.Join(s.Dir(), previousDir), filepath.Join(s.Dir(), stagingDir)} {
		if m := statT(t, d).Mode & 0o7777; m != 0o700 {
			t.Fatalf("%s mode %04o, want 0700", d, m)
		}
	}
}

func TestFixPerms(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	files := pairFiles(out, newPair(t, "a"))
	if _, err := s.Commit("web", files, nil); err != nil {
		t.Fatal(err)
	}
	key := files[0]
	if changed, err := s.FixPerms(key); err != nil || changed {
		t.Fatalf("FixPerms on a correct file = %v, %v", changed, err)
	}
	if err := os.Chmod(key.Path, 0o644); err != nil {
		t.Fatal(err)
	}
	before := statT(t, key.Path)
	if changed, err := s.FixPerms(key); err != nil || !changed {
		t.Fatalf("FixPerms = %v, %v", changed, err)
	}
	after := statT(t, key.Path)
	if after.Mode&0o7777 != 0o600 || after.Ino != before.Ino {
		t.Fatalf("mode %04o inode %d->%d", after.Mode&0o7777, before.Ino, after.Ino)
	}
	// A hard link could point at any file: never chmod through one.
	if err := os.Link(key.Path, filepath.Join(t.TempDir(), "other")); err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(key.Path, 0o644)
	if _, err := s.FixPerms(key); err == nil || !strings.Contains(err.Error(), "hard links") {
		t.Fatalf("FixPerms on a hard-linked file = %v", err)
	}
	if _, err := s.FixPerms(File{Path: filepath.Join(out, "missing"), Mode: 0o600, UID: -1, GID: -1}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("FixPerms on a missing file = %v", err)
	}
}

func TestOpenTightensLooseStateDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // despite umask
		t.Fatal(err)
	}
	if _, err := Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	if m := statT(t, dir).Mode & 0o7777; m != 0o700 {
		t.Fatalf("state dir mode %04o after Open, want 0700", m)
	}
}

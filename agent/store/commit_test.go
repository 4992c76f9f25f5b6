package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestCommitWritesSetAndRecordsIntents(t *testing.T) {
	s := newStore(t)
	out := filepath.Join(t.TempDir(), "tls")
	p := newPair(t, "a")
	in := []Intent{{Unit: "web.service", Action: "restart", Cert: "web"}}
	res, err := s.Commit("web", pairFiles(out, p), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(out, "key.pem"), filepath.Join(out, "cert.pem")}
	if !slices.Equal(res.Changed, want) || len(res.Fixed) != 0 {
		t.Fatalf("result = %+v, want Changed %v", res, want)
	}
	assertOnDisk(t, out, p)
	if m := statT(t, want[0]).Mode & 0o7777; m != 0o600 {
		t.Fatalf("key mode %04o, want 0600", m)
	}
	if m := statT(t, want[1]).Mode & 0o7777; m != 0o644 {
		t.Fatalf("cert mode %04o, want 0644", m)
	}
	if m := statT(t, out).Mode & 0o7777; m != 0o755 {
		t.Fatalf("created dir mode %04o, want default 0755", m)
	}
	got, err := s.PendingIntents()
	if err != nil || !slices.Equal(got, in) {
		t.Fatalf("PendingIntents = %v, %v; want %v", got, err, in)
	}
	assertNoTemps(t, out, filepath.Join(s.Dir(), journalDir))
	assertNoJournal(t, s)
	if _, err := s.Previous("web"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Previous after first write: %v, want ErrNotExist", err)
	}
}

// The temp file must carry its final owner and mode while still empty.
func TestOwnerAndModeSetBeforeContent(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	out := t.TempDir()
	files := pairFiles(out, newPair(t, "a"))
	for i := range files {
		files[i].UID, files[i].GID = 65534, 65534
		files[i].Mode = 0o640
	}
	var seen []string
	s.ops.afterChmod = func(f *os.File) {
		if filepath.Dir(f.Name()) != out {
			return // the state dir's own journal temps
		}
		st := statT(t, f.Name())
		if st.Size != 0 || st.Mode&0o7777 != 0o640 || st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("temp %s before first byte: size %d mode %04o owner %d:%d; want empty 0640 65534:65534",
				f.Name(), st.Size, st.Mode&0o7777, st.Uid, st.Gid)
		}
		seen = append(seen, filepath.Base(f.Name()))
	}
	if _, err := s.Commit("web", files, nil); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || !strings.HasPrefix(seen[0], ".key.pem.certagent-") || !strings.HasPrefix(seen[1], ".cert.pem.certagent-") {
		t.Fatalf("hook saw temps %v, want key then cert", seen)
	}
	for _, f := range files {
		st := statT(t, f.Path)
		if st.Uid != 65534 || st.Gid != 65534 || st.Mode&0o7777 != 0o640 {
			t.Fatalf("%s: owner %d:%d mode %04o", f.Path, st.Uid, st.Gid, st.Mode&0o7777)
		}
	}
}

func TestUnchangedMeansUntouched(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	p := newPair(t, "a")
	in := Intent{Unit: "web.service", Action: "restart", Cert: "web"}
	if _, err := s.Commit("web", pairFiles(out, p), []Intent{in}); err != nil {
		t.Fatal(err)
	}
	if err := s.DoneIntent(in); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(out, "key.pem")
	before := statT(t, key)
	time.Sleep(20 * time.Millisecond) // make an mtime change visible
	renames := 0
	s.ops.renameat = func(a int, b string, c int, d string) error { renames++; return syscall.Renameat(a, b, c, d) }
	if err := os.Chmod(key, 0o644); err != nil { // someone loosens the key
		t.Fatal(err)
	}
	res, err := s.Commit("web", pairFiles(out, p), []Intent{in})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Changed) != 0 || !slices.Equal(res.Fixed, []string{key}) {
		t.Fatalf("result = %+v; want nothing changed and %s fixed", res, key)
	}
	after := statT(t, key)
	if after.Ino != before.Ino || after.Mtim != before.Mtim || after.Mode&0o7777 != 0o600 {
		t.Fatalf("key inode %d->%d mtime %v->%v mode %04o: want same inode and mtime, mode 0600",
			before.Ino, after.Ino, before.Mtim, after.Mtim, after.Mode&0o7777)
	}
	if renames != 0 {
		t.Fatalf("%d renames (journal or files) for an unchanged set, want 0", renames)
	}
	if got, _ := s.PendingIntents(); len(got) != 0 {
		t.Fatalf("unchanged set recorded intents %v", got)
	}
}

func TestFailedWriteLeavesOldPairIntact(t *testing.T) {
	nth := func(n int, match func(string) bool, f func(string) error) func(string) error {
		count := 0
		return func(name string) error {
			if match(name) {
				count++
				if count == n {
					return f(name)
				}
			}
			return nil
		}
	}
	has := func(sub string) func(string) bool { return func(n string) bool { return strings.Contains(n, sub) } }
	cases := []struct {
		name  string
		write func(string) error // by file name
		fsync func(string) error
		ren   func(string) error // by new name
		errno syscall.Errno
		path  string
	}{
		{name: "cert temp write ENOSPC", write: nth(1, has(".cert.pem."), func(string) error { return syscall.ENOSPC }), errno: syscall.ENOSPC, path: ".cert.pem.certagent-"},
		{name: "key temp fsync EIO", fsync: nth(1, has(".key.pem."), func(string) error { return syscall.EIO }), errno: syscall.EIO, path: ".key.pem.certagent-"},
		{name: "first rename EROFS", ren: nth(1, has("key.pem"), func(string) error { return syscall.EROFS }), errno: syscall.EROFS, path: "key.pem"},
		{name: "prepare record ENOSPC", ren: nth(1, has("commit-web"), func(string) error { return syscall.ENOSPC }), errno: syscall.ENOSPC, path: "commit-web.json"},
		{name: "commit record EIO", ren: nth(2, has("commit-web"), func(string) error { return syscall.EIO }), errno: syscall.EIO, path: "commit-web.json"},
		{name: "previous set ENOSPC", write: nth(1, has("set.json"), func(string) error { return syscall.ENOSPC }), errno: syscall.ENOSPC, path: "set.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			out := t.TempDir()
			old := newPair(t, "old")
			if _, err := s.Commit("web", pairFiles(out, old), nil); err != nil {
				t.Fatal(err)
			}
			real := realOps()
			if c.write != nil {
				s.ops.write = func(f *os.File, b []byte) error {
					if err := c.write(f.Name()); err != nil {
						return err
					}
					return real.write(f, b)
				}
			}
			if c.fsync != nil {
				s.ops.fsync = func(f *os.File) error {
					if err := c.fsync(f.Name()); err != nil {
						return err
					}
					return real.fsync(f)
				}
			}
			if c.ren != nil {
				s.ops.renameat = func(a int, o string, b int, n string) error {
					if err := c.ren(n); err != nil {
						return err
					}
					return real.renameat(a, o, b, n)
				}
			}
			in := []Intent{{Unit: "u", Action: "restart", Cert: "web"}}
			res, err := s.Commit("web", pairFiles(out, newPair(t, "new")), in)
			if err == nil {
				t.Fatal("Commit succeeded despite the injected fault")
			}
			if !errors.Is(err, c.errno) || !strings.Contains(err.Error(), c.path) || errors.Is(err, ErrIncomplete) {
				t.Fatalf("error %q: want errno %v, a path containing %q, not ErrIncomplete", err, c.errno, c.path)
			}
			if len(res.Changed) != 0 {
				t.Fatalf("Changed = %v on failure", res.Changed)
			}
			assertOnDisk(t, out, old)
			assertNoTemps(t, out, filepath.Join(s.Dir(), journalDir), filepath.Join(s.Dir(), previousDir, "web"))
			assertNoJournal(t, s)
			if got, _ := s.PendingIntents(); len(got) != 0 {
				t.Fatalf("failed write recorded intents %v", got)
			}
			// And the fault gone, the same Commit works.
			s.ops = realOps()
			p := newPair(t, "new2")
			if _, err := s.Commit("web", pairFiles(out, p), in); err != nil {
				t.Fatal(err)
			}
			assertOnDisk(t, out, p)
		})
	}
}

// A rename failing after the key was replaced cannot be undone in place;
// the journal keeps the commit and recovery completes the new set.
func TestSecondRenameFailureIsRolledForward(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	if _, err := s.Commit("web", pairFiles(out, newPair(t, "old")), nil); err != nil {
		t.Fatal(err)
	}
	s.ops.renameat = func(a int, o string, b int, n string) error {
		if n == "cert.pem" {
			return syscall.EIO
		}
		return syscall.Renameat(a, o, b, n)
	}
	p := newPair(t, "new")
	in := []Intent{{Unit: "u", Action: "restart", Cert: "web"}}
	res, err := s.Commit("web", pairFiles(out, p), in)
	if !errors.Is(err, ErrIncomplete) || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), filepath.Join(out, "cert.pem")) {
		t.Fatalf("error %v: want ErrIncomplete wrapping EIO on cert.pem", err)
	}
	if len(res.Changed) != 2 {
		t.Fatalf("Changed = %v, want both files (they will change on recovery)", res.Changed)
	}
	s.ops = realOps()
	rep, err := s.Recover(allowFiles("web", pairFiles(out, p), in))
	if err != nil || !slices.Equal(rep.RolledForward, []string{"web"}) {
		t.Fatalf("Recover = %+v, %v", rep, err)
	}
	assertOnDisk(t, out, p)
	assertNoTemps(t, out)
	if got, _ := s.PendingIntents(); !slices.Equal(got, in) {
		t.Fatalf("intents after roll forward = %v, want %v", got, in)
	}
}

func TestMissingDirsCreatedWithDirMode(t *testing.T) {
	s := newStore(t)
	base := t.TempDir()
	out := filepath.Join(base, "a", "b")
	files := pairFiles(out, newPair(t, "a"))
	for i := range files {
		files[i].DirMode = 0o750
	}
	if _, err := s.Commit("web", files, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Join(base, "a"), out} {
		if m := statT(t, d).Mode & 0o7777; m != 0o750 {
			t.Fatalf("%s mode %04o, want 0750", d, m)
		}
	}
}

func TestFIFOAtTargetIsReplacedWithoutBlocking(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(out, "cert.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPair(t, "a")
	if _, err := s.Commit("web", pairFiles(out, p), nil); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, out, p)
}

func TestPreviousAndRestore(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	a, b := newPair(t, "a"), newPair(t, "b")
	if _, err := s.Commit("web", pairFiles(out, a), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit("web", pairFiles(out, b), nil); err != nil {
		t.Fatal(err)
	}
	prev, err := s.Previous("web")
	if err != nil {
		t.Fatal(err)
	}
	want := pairFiles(out, a)
	if len(prev) != 2 {
		t.Fatalf("Previous has %d files, want 2", len(prev))
	}
	for i := range want {
		if prev[i].Path != want[i].Path || !bytes.Equal(prev[i].Data, want[i].Data) || prev[i].Mode != want[i].Mode ||
			prev[i].UID != os.Geteuid() {
			t.Fatalf("Previous[%d] = %s mode %v uid %d, want %s mode %v", i, prev[i].Path, prev[i].Mode, prev[i].UID, want[i].Path, want[i].Mode)
		}
	}
	if m := statT(t, filepath.Join(s.Dir(), previousDir, "web", previousFile)).Mode & 0o7777; m != 0o600 {
		t.Fatalf("previous set mode %04o, want 0600", m)
	}
	in := []Intent{{Unit: "u", Action: "restart", Cert: "web"}}
	if _, err := s.Restore("web", in); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, out, a)
	if got, _ := s.PendingIntents(); !slices.Equal(got, in) {
		t.Fatalf("restore intents = %v", got)
	}
	// Restore does not overwrite the previous set with the bad one.
	if prev2, _ := s.Previous("web"); !bytes.Equal(prev2[0].Data, a.key) {
		t.Fatal("Restore replaced the previous set")
	}
}

// Commits of different certs run concurrently (race detector food).
func TestConcurrentCommits(t *testing.T) {
	s := newStore(t)
	base := t.TempDir()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "c" + string(rune('a'+i))
			for range 3 {
				p := newPair(t, name)
				if _, err := s.Commit(name, pairFiles(filepath.Join(base, name), p), []Intent{{Unit: "shared", Action: "restart", Cert: name}}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	got, err := s.PendingIntents()
	if err != nil || len(got) != 8 {
		t.Fatalf("PendingIntents = %d, %v; want 8 (deduplicated)", len(got), err)
	}
}

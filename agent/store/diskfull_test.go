package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestDiskFullOnRealTmpfs writes a set into a 64 KiB tmpfs that cannot
// hold it: the old pair must survive byte-identical with no temps left,
// the error must name the path and carry ENOSPC, and the write must
// succeed once space is freed.
func TestDiskFullOnRealTmpfs(t *testing.T) {
	needRoot(t)
	out := t.TempDir()
	if err := syscall.Mount("tmpfs", out, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v); the injected-ENOSPC test covers the logic", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(out, syscall.MNT_DETACH) })
	s := newStore(t)
	old := newPair(t, "old")
	if _, err := s.Commit("web", pairFiles(out, old), nil); err != nil {
		t.Fatal(err)
	}
	// A ballast leaves room for less than the new set.
	ballast := filepath.Join(out, "ballast")
	free := func() int64 {
		var st syscall.Statfs_t
		if err := syscall.Statfs(out, &st); err != nil {
			t.Fatal(err)
		}
		return int64(st.Bavail) * st.Bsize
	}
	if err := os.WriteFile(ballast, bytes.Repeat([]byte{'x'}, int(free())-4096), 0o600); err != nil {
		t.Fatal(err)
	}
	big := newPair(t, "new")
	files := pairFiles(out, big)
	files[1].Data = append(bytes.Repeat([]byte("# padding\n"), 2000), big.cert...) // ~20 KB cert file
	_, err := s.Commit("web", files, nil)
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), out) {
		t.Fatalf("error %v: want ENOSPC naming a path under %s", err, out)
	}
	assertOnDisk(t, out, old)
	assertNoTemps(t, out)
	assertNoJournal(t, s)
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit("web", files, nil); err != nil {
		t.Fatalf("after freeing space: %v", err)
	}
	if got := mustRead(t, files[1].Path); !bytes.Equal(got, files[1].Data) {
		t.Fatal("cert not written after freeing space")
	}
}

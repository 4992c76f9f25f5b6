package store

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestSpreadSeedCreatedOnceAndKept: the first call makes a 0600 seed
// file, later calls and a reopened store return the same bytes, and two
// state dirs get different seeds.
func TestSpreadSeedCreatedOnceAndKept(t *testing.T) {
	s := newStore(t)
	seed, replaced, err := s.SpreadSeed()
	if err != nil || replaced {
		t.Fatalf("SpreadSeed: %v (replaced %v)", err, replaced)
	}
	if len(seed) != SpreadSeedSize || bytes.Equal(seed, make([]byte, SpreadSeedSize)) {
		t.Fatalf("seed %x is not %d random bytes", seed, SpreadSeedSize)
	}
	st, err := os.Lstat(filepath.Join(s.Dir(), spreadSeedFile))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode %v, want a regular 0600 file", st.Mode())
	}
	again, _, err := s.SpreadSeed()
	if err != nil || !bytes.Equal(again, seed) {
		t.Fatalf("second call: %x, %v; want the first seed", again, err)
	}
	reopened, err := Open(s.Dir(), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if kept, _, err := reopened.SpreadSeed(); err != nil || !bytes.Equal(kept, seed) {
		t.Fatalf("after reopen: %x, %v; want the first seed", kept, err)
	}
	other, _, err := newStore(t).SpreadSeed()
	if err != nil || bytes.Equal(other, seed) {
		t.Fatalf("a second state dir got seed %x (%v); want a different one", other, err)
	}
	assertNoTemps(t, s.Dir())
}

// TestSpreadSeedRacersAgree: processes creating the seed at once all end
// up with the one seed on disk.
func TestSpreadSeedRacersAgree(t *testing.T) {
	dir := newStore(t).Dir()
	const n = 8
	seeds := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(dir, hclog.NewNullLogger())
			if err != nil {
				t.Error(err)
				return
			}
			seed, _, err := s.SpreadSeed()
			if err != nil {
				t.Error(err)
			}
			seeds[i] = seed
		}()
	}
	wg.Wait()
	onDisk, _, err := newStoreAt(t, dir).SpreadSeed()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		if !bytes.Equal(s, onDisk) {
			t.Fatalf("racer %d got %x, the file holds %x", i, s, onDisk)
		}
	}
	assertNoTemps(t, dir)
}

// TestSpreadSeedDamagedReplaced: a file that is not a seed is replaced by
// a fresh one and the replacement is reported; a symlink is not followed.
func TestSpreadSeedDamagedReplaced(t *testing.T) {
	s := newStore(t)
	p := filepath.Join(s.Dir(), spreadSeedFile)
	if err := os.WriteFile(p, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seed, replaced, err := s.SpreadSeed()
	if err != nil || !replaced || len(seed) != SpreadSeedSize {
		t.Fatalf("damaged seed: %x, replaced %v, %v; want a fresh seed, reported", seed, replaced, err)
	}
	if kept, _, _ := s.SpreadSeed(); !bytes.Equal(kept, seed) {
		t.Fatal("the replacement seed was not kept")
	}

	target := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if _, replaced, err := s.SpreadSeed(); err != nil || !replaced {
		t.Fatalf("symlinked seed: replaced %v, %v; want it replaced", replaced, err)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Fatalf("the symlink target was written: %q", b)
	}
	if st, _ := os.Lstat(p); st == nil || !st.Mode().IsRegular() {
		t.Fatal("the seed is still a symlink")
	}
}

func newStoreAt(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(dir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

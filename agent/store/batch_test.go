package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// batchRig is n certs b0..b(n-1), each with its own output directory
// under one root (as the bench lays files out: one directory per cert).
type batchRig struct {
	s   *Store
	out string
	n   int
}

func (r *batchRig) name(i int) string { return fmt.Sprintf("b%d", i) }
func (r *batchRig) dir(i int) string  { return filepath.Join(r.out, r.name(i)) }
func (r *batchRig) intents(i int) []Intent {
	return []Intent{{Unit: "u" + r.name(i) + ".service", Action: "restart", Cert: r.name(i)}}
}

func (r *batchRig) sets(t *testing.T, pairs []pair) []Set {
	var sets []Set
	for i := range r.n {
		sets = append(sets, Set{Cert: r.name(i), Files: pairFiles(r.dir(i), pairs[i]), Intents: r.intents(i)})
	}
	return sets
}

func (r *batchRig) allowed() Allowed {
	allow := Allowed{}
	for i := range r.n {
		for k, v := range allowFiles(r.name(i), pairFiles(r.dir(i), pair{}), r.intents(i)) {
			allow[k] = v
		}
	}
	return allow
}

func newPairs(t *testing.T, n int, prefix string) []pair {
	var ps []pair
	for i := range n {
		ps = append(ps, newPair(t, fmt.Sprintf("%s%d", prefix, i)))
	}
	return ps
}

// One batch: every set in place, one pending action each, no journal,
// fsyncs: one per file plus one per output directory, not per cert more.
func TestCommitBatchWritesEverySet(t *testing.T) {
	r := &batchRig{s: newStore(t), out: t.TempDir(), n: 5}
	// The batch writes its sets' temps on several goroutines.
	var fsyncN, dirSyncN atomic.Int64
	r.s.ops.fsync = func(f *os.File) error { fsyncN.Add(1); return f.Sync() }
	r.s.ops.fsyncDir = func(fd int) error { dirSyncN.Add(1); return realOps().fsyncDir(fd) }
	pairs := newPairs(t, r.n, "a")
	res, errs := r.s.CommitBatch(r.sets(t, pairs))
	var want []Intent
	for i := range r.n {
		if errs[i] != nil {
			t.Fatalf("%s: %v", r.name(i), errs[i])
		}
		if len(res[i].Changed) != 2 {
			t.Fatalf("%s: Changed %v", r.name(i), res[i].Changed)
		}
		assertOnDisk(t, r.dir(i), pairs[i])
		assertNoTemps(t, r.dir(i))
		want = append(want, r.intents(i)...)
	}
	assertNoJournal(t, r.s)
	if got, _ := r.s.PendingIntents(); !slices.Equal(got, want) {
		t.Fatalf("intents = %v, want %v", got, want)
	}
	// 10 temps + prepare, commit and intents files; directories: the 5
	// output dirs once each, journal/ for prepare, commit, intents and
	// the record's removal, plus what creating the 5 dirs synced.
	if got := fsyncN.Load(); got != int64(2*r.n+3) {
		t.Errorf("file fsyncs = %d, want %d (one per file, three journal writes)", got, 2*r.n+3)
	}
	if got := dirSyncN.Load(); got > int64(2*r.n+4) {
		t.Errorf("directory fsyncs = %d, want at most %d", got, 2*r.n+4)
	}
	// Unchanged sets: nothing written, nothing journaled.
	fsyncN.Store(0)
	res, errs = r.s.CommitBatch(r.sets(t, pairs))
	for i := range r.n {
		if errs[i] != nil || len(res[i].Changed) != 0 {
			t.Fatalf("%s again: %+v, %v", r.name(i), res[i], errs[i])
		}
	}
	if got := fsyncN.Load(); got != 0 {
		t.Errorf("unchanged batch did %d fsyncs", got)
	}
}

// A set that fails before the commit point (its temp cannot be written)
// keeps its old files and does not stop the others.
func TestCommitBatchOneSetFails(t *testing.T) {
	r := &batchRig{s: newStore(t), out: t.TempDir(), n: 3}
	old := newPairs(t, r.n, "old")
	if _, errs := r.s.CommitBatch(r.sets(t, old)); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	r.s.ops.fsync = func(f *os.File) error {
		if strings.Contains(f.Name(), "/b1/.cert.pem.") {
			return errors.New("injected I/O error")
		}
		return f.Sync()
	}
	nw := newPairs(t, r.n, "new")
	res, errs := r.s.CommitBatch(r.sets(t, nw))
	if errs[1] == nil || !strings.Contains(errs[1].Error(), "injected") || errors.Is(errs[1], ErrIncomplete) {
		t.Fatalf("b1 error = %v, want the injected error", errs[1])
	}
	if len(res[1].Changed) != 0 {
		t.Fatalf("b1 Changed = %v after a failure", res[1].Changed)
	}
	for i, want := range []pair{nw[0], old[1], nw[2]} {
		assertOnDisk(t, r.dir(i), want)
		assertNoTemps(t, r.dir(i))
	}
	if errs[0] != nil || errs[2] != nil {
		t.Fatalf("other sets failed: %v", errs)
	}
	assertNoJournal(t, r.s)
}

// A crash at each step of a group commit, then Recover: every set is
// entirely old or entirely new, and all sets of the batch agree.
func TestRecoverAfterBatchCrashes(t *testing.T) {
	cases := []struct {
		name    string
		inject  func(s *Store)
		wantNew bool
	}{
		{"a temp's fsync", func(s *Store) {
			s.ops.fsync = func(f *os.File) error {
				if strings.Contains(f.Name(), "/b2/.cert.pem.") {
					panic("crash")
				}
				return f.Sync()
			}
		}, false},
		{"first rename", func(s *Store) { s.ops.renameat = renameCrashAt("key.pem") }, true},
		{"between two sets' renames", func(s *Store) {
			n := 0
			s.ops.renameat = func(a int, o string, b int, nm string) error {
				if nm == "key.pem" {
					if n++; n == 2 {
						panic("crash")
					}
				}
				return renameCrashAt("")(a, o, b, nm)
			}
		}, true},
		{"a directory fsync", func(s *Store) {
			s.ops.fsyncDir = func(fd int) error {
				p, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
				if strings.HasSuffix(p, "/b1") && !strings.Contains(p, "/state/") {
					panic("crash")
				}
				return realOps().fsyncDir(fd)
			}
		}, true},
		{"recording the intents", func(s *Store) { s.ops.renameat = renameCrashAt(intentsFile) }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &batchRig{s: newStore(t), out: t.TempDir(), n: 3}
			old, nw := newPairs(t, r.n, "old"), newPairs(t, r.n, "new")
			olds := r.sets(t, old)
			for i := range olds {
				olds[i].Intents = nil // so that only the new sets' actions are pending
			}
			if _, errs := r.s.CommitBatch(olds); errors.Join(errs...) != nil {
				t.Fatal(errs)
			}
			c.inject(r.s)
			crash(t, func() { r.s.CommitBatch(r.sets(t, nw)) })
			s2, err := Open(r.s.Dir(), hclog.NewNullLogger())
			if err != nil {
				t.Fatal(err)
			}
			rep, err := s2.Recover(r.allowed())
			if err != nil {
				t.Fatalf("Recover: %+v, %v", rep, err)
			}
			var wantIntents []Intent
			for i := range r.n {
				want := old[i]
				if c.wantNew {
					want = nw[i]
					wantIntents = append(wantIntents, r.intents(i)...)
				}
				assertOnDisk(t, r.dir(i), want)
				assertNoTemps(t, r.dir(i))
			}
			assertNoJournal(t, s2)
			if got, _ := s2.PendingIntents(); !slices.Equal(got, wantIntents) {
				t.Fatalf("intents = %v, want %v", got, wantIntents)
			}
			if c.wantNew && len(rep.RolledForward) != r.n || !c.wantNew && len(rep.Discarded) != r.n {
				t.Fatalf("report %+v", rep)
			}
		})
	}
}

// A batch record one of whose sets the configuration no longer allows:
// that set is moved aside and left alone, the others are replayed.
func TestRecoverBatchRefusesOneSet(t *testing.T) {
	r := &batchRig{s: newStore(t), out: t.TempDir(), n: 3}
	old, nw := newPairs(t, r.n, "old"), newPairs(t, r.n, "new")
	if _, errs := r.s.CommitBatch(r.sets(t, old)); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	r.s.ops.renameat = renameCrashAt("key.pem")
	crash(t, func() { r.s.CommitBatch(r.sets(t, nw)) })
	allow := r.allowed()
	delete(allow, "b1")
	s2, err := Open(r.s.Dir(), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s2.Recover(allow)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 1 || filepath.Base(rep.Refused[0]) != "commit-b1.json" {
		t.Fatalf("Refused = %v", rep.Refused)
	}
	if _, err := os.Stat(rep.Refused[0]); err != nil {
		t.Fatalf("refused record not kept: %v", err)
	}
	assertOnDisk(t, r.dir(0), nw[0])
	assertOnDisk(t, r.dir(1), old[1]) // untouched: its temps stay too
	assertOnDisk(t, r.dir(2), nw[2])
	assertNoJournal(t, s2)
}

// A set a failed group commit could neither complete nor record on its
// own stays in the batch record; the next write of that cert completes
// it first, so that a later recovery cannot roll its leftover temps
// forward over the newer files.
func TestStuckBatchSetCompletedBeforeNextWrite(t *testing.T) {
	r := &batchRig{s: newStore(t), out: t.TempDir(), n: 2}
	old := newPairs(t, r.n, "old")
	if _, errs := r.s.CommitBatch(r.sets(t, old)); errors.Join(errs...) != nil {
		t.Fatal(errs)
	}
	r.s.ops.renameat = func(a int, o string, b int, n string) error {
		dir, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", a))
		if (n == "cert.pem" && strings.HasSuffix(dir, "/b1")) || n == journalName("b1") {
			return syscall.EIO
		}
		return syscall.Renameat(a, o, b, n)
	}
	nw := newPairs(t, r.n, "new")
	_, errs := r.s.CommitBatch(r.sets(t, nw))
	if errs[0] != nil || !errors.Is(errs[1], ErrIncomplete) {
		t.Fatalf("errors %v, want b0 done and b1 incomplete", errs)
	}
	if m, _ := filepath.Glob(filepath.Join(r.s.Dir(), journalDir, batchPrefix+"*")); len(m) != 1 {
		t.Fatalf("batch records %v, want the one holding b1", m)
	}
	r.s.ops = realOps()
	newer := newPair(t, "newer")
	if _, err := r.s.Commit("b1", pairFiles(r.dir(1), newer), r.intents(1)); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, r.dir(1), newer)
	s2, err := Open(r.s.Dir(), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Recover(r.allowed()); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, r.dir(0), nw[0])
	assertOnDisk(t, r.dir(1), newer)
	assertNoTemps(t, r.dir(0), r.dir(1))
	assertNoJournal(t, s2)
}

package store

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// crash runs fn and swallows the panic an injected op raises: the state
// directory and outputs are left exactly as a SIGKILL at that op would
// leave them (nothing after the panicking call runs except deferred
// closes of descriptors and the in-memory mutex).
func crash(t *testing.T, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != "crash" {
			t.Fatalf("expected the injected crash, got %v", r)
		}
	}()
	fn()
}

func renameCrashAt(name string) func(int, string, int, string) error {
	return func(a int, o string, b int, n string) error {
		if n == name {
			panic("crash")
		}
		return syscall.Renameat(a, o, b, n)
	}
}

func TestRecoverAfterSimulatedCrashes(t *testing.T) {
	in := []Intent{{Unit: "web.service", Action: "restart", Cert: "web"}}
	cases := []struct {
		name       string
		inject     func(s *Store)
		wantNew    bool
		wantReport func(RecoverReport) bool
	}{
		{"before the commit point (cert temp fsync)", func(s *Store) {
			s.ops.fsync = func(f *os.File) error {
				if strings.Contains(f.Name(), ".cert.pem.") {
					panic("crash")
				}
				return f.Sync()
			}
		}, false, func(r RecoverReport) bool {
			return slices.Equal(r.Discarded, []string{"web"}) && len(r.TempsRemoved) == 2
		}},
		{"while saving the previous set", func(s *Store) { s.ops.renameat = renameCrashAt(previousFile) },
			false, func(r RecoverReport) bool { return slices.Equal(r.Discarded, []string{"web"}) }},
		{"right after the commit record", func(s *Store) { s.ops.renameat = renameCrashAt("key.pem") },
			true, func(r RecoverReport) bool { return slices.Equal(r.RolledForward, []string{"web"}) }},
		{"after the key rename, before the cert rename", func(s *Store) { s.ops.renameat = renameCrashAt("cert.pem") },
			true, func(r RecoverReport) bool { return slices.Equal(r.RolledForward, []string{"web"}) }},
		{"after the renames, before intents", func(s *Store) { s.ops.renameat = renameCrashAt(intentsFile) },
			true, func(r RecoverReport) bool { return slices.Equal(r.RolledForward, []string{"web"}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStore(t)
			out := t.TempDir()
			old, nw := newPair(t, "old"), newPair(t, "new")
			if _, err := s.Commit("web", pairFiles(out, old), nil); err != nil {
				t.Fatal(err)
			}
			c.inject(s)
			crash(t, func() { _, _ = s.Commit("web", pairFiles(out, nw), in) })

			s2, err := Open(s.Dir(), hclog.NewNullLogger()) // the restarted process
			if err != nil {
				t.Fatal(err)
			}
			allow := allowFiles("web", pairFiles(out, nw), in)
			rep, err := s2.Recover(allow)
			if err != nil || !c.wantReport(rep) {
				t.Fatalf("Recover = %+v, %v", rep, err)
			}
			want, wantIntents := old, []Intent(nil)
			if c.wantNew {
				want, wantIntents = nw, in
			}
			assertOnDisk(t, out, want)
			assertNoTemps(t, out, filepath.Join(s.Dir(), journalDir), filepath.Join(s.Dir(), previousDir, "web"))
			assertNoJournal(t, s2)
			if got, _ := s2.PendingIntents(); !slices.Equal(got, wantIntents) {
				t.Fatalf("intents = %v, want %v", got, wantIntents)
			}
			if rep2, err := s2.Recover(allow); err != nil || !rep2.Empty() {
				t.Fatalf("second Recover = %+v, %v; want nothing to do", rep2, err)
			}
		})
	}
}

// Commit completes an unfinished record of the same cert before writing.
func TestCommitCompletesEarlierUnfinishedWrite(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	if _, err := s.Commit("web", pairFiles(out, newPair(t, "old")), nil); err != nil {
		t.Fatal(err)
	}
	s.ops.renameat = renameCrashAt("cert.pem")
	in := []Intent{{Unit: "a", Action: "restart", Cert: "web"}}
	crash(t, func() { _, _ = s.Commit("web", pairFiles(out, newPair(t, "mid")), in) })
	s.ops = realOps()
	p := newPair(t, "new")
	if _, err := s.Commit("web", pairFiles(out, p), nil); err != nil {
		t.Fatal(err)
	}
	assertOnDisk(t, out, p)
	assertNoTemps(t, out)
	if got, _ := s.PendingIntents(); !slices.Equal(got, in) {
		t.Fatalf("intents of the interrupted write = %v, want %v", got, in)
	}
}

func TestRecoverRemovesLeftoversAndQuarantinesGarbage(t *testing.T) {
	s := newStore(t)
	dir, _, err := s.Staging("web")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "csr.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	jtemp := filepath.Join(s.Dir(), journalDir, tempName(intentsFile))
	if err := os.WriteFile(jtemp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(s.Dir(), journalDir, journalName("broken"))
	if err := os.WriteFile(bad, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Recover(Allowed{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.StagingRemoved, []string{dir}) || !slices.Equal(rep.TempsRemoved, []string{jtemp}) ||
		!slices.Equal(rep.Quarantined, []string{bad + ".corrupt"}) {
		t.Fatalf("report = %+v", rep)
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), stagingDir)); len(ents) != 0 {
		t.Fatalf("staging not empty: %v", ents)
	}
	if _, err := os.Stat(bad + ".corrupt"); err != nil {
		t.Fatal(err)
	}
}

// A tampered record must not make recovery rename or delete arbitrary files.
func TestRecoverRefusesRecordOutsideOwnTemps(t *testing.T) {
	s := newStore(t)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &record{Cert: "web", State: statePrepare,
		Renames: []rename{{Dir: filepath.Dir(victim), Temp: "victim", Target: "x"}}}
	r.Version = journalVersion
	if err := r.validate(); err == nil {
		t.Fatal("validate accepted a temp name that is not ours")
	}
	if err := s.writeRecord(r); err != nil {
		t.Fatal(err)
	}
	rep, err := s.Recover(allowFiles("web", []File{{Path: filepath.Join(filepath.Dir(victim), "x")}}, nil))
	if err != nil || len(rep.Quarantined) != 1 {
		t.Fatalf("Recover = %+v, %v; want the record quarantined", rep, err)
	}
	if b := mustRead(t, victim); string(b) != "keep" {
		t.Fatal("victim modified")
	}
}

func TestStagingIsFreshPrivateAndCleaned(t *testing.T) {
	s := newStore(t)
	dir, cleanup, err := s.Staging("web")
	if err != nil {
		t.Fatal(err)
	}
	if m := statT(t, dir).Mode & 0o7777; m != 0o700 {
		t.Fatalf("staging mode %04o", m)
	}
	if err := os.WriteFile(filepath.Join(dir, "old"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir2, cleanup2, err := s.Staging("web")
	if err != nil || dir2 != dir {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("staging not wiped: %v", ents)
	}
	cleanup2()
	cleanup()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("staging still there: %v", err)
	}
	if _, _, err := s.Staging("../x"); err == nil {
		t.Fatal("Staging accepted a cert name with a slash")
	}
}

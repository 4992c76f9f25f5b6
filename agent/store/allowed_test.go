package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// plantRecord writes a commit record for cert that renames an attacker's
// file (a temp name of ours in dir) over dir/target and queues intents, as
// someone who could write the state directory would.
func plantRecord(t *testing.T, s *Store, cert, dir, target string, intents []Intent) string {
	t.Helper()
	temp := tempName(target)
	if err := os.WriteFile(filepath.Join(dir, temp), []byte("attacker"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := &record{Cert: cert, State: stateCommit, Renames: []rename{{Dir: dir, Temp: temp, Target: target}}, Intents: intents}
	if err := s.writeRecord(r); err != nil {
		t.Fatal(err)
	}
	return temp
}

// jsonLogs returns a logger writing JSON lines to the returned buffer.
func jsonLogs() (hclog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return hclog.New(&hclog.LoggerOptions{Output: &buf, JSONFormat: true, Level: hclog.Debug}), &buf
}

// refusedLines returns the journal_record_refused log entries.
func refusedLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["event"] == "journal_record_refused" {
			out = append(out, m)
		}
	}
	return out
}

// A journal record outside the configuration is moved aside, not replayed:
// its target keeps its bytes, no unit action is queued, and the report
// names the certs to inspect again.
func TestRecoverRefusesRecordOutsideConfig(t *testing.T) {
	web := []Intent{{Unit: "nginx.service", Action: "reload", Cert: "web"}}
	cases := []struct {
		name, cert, reason string
		victim             bool // target a file that is no output
		intents            []Intent
		reinspect          []string
	}{
		{"cert not configured", "ghost", refusedCert, false, nil, []string{"web"}},
		{"target not an output", "web", refusedTarget, true, nil, []string{"web"}},
		{"unit not configured", "web", refusedIntent, false,
			[]Intent{{Unit: "sshd.service", Action: "restart", Cert: "web"}}, []string{"web"}},
		{"configured unit, other action", "web", refusedIntent, false,
			[]Intent{{Unit: "nginx.service", Action: "restart", Cert: "web"}}, []string{"web"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			logger, logs := jsonLogs()
			s, err := Open(filepath.Join(t.TempDir(), "state"), logger)
			if err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			old := newPair(t, "old")
			if _, err := s.Commit("web", pairFiles(out, old), nil); err != nil {
				t.Fatal(err)
			}
			dir, target := out, "cert.pem"
			if c.victim {
				dir, target = t.TempDir(), "victim"
				if err := os.WriteFile(filepath.Join(dir, target), []byte("root's"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			before := mustRead(t, filepath.Join(dir, target))
			temp := plantRecord(t, s, c.cert, dir, target, c.intents)

			rep, err := s.Recover(allowFiles("web", pairFiles(out, old), web))
			if err != nil {
				t.Fatal(err)
			}
			moved := filepath.Join(s.Dir(), journalDir, refusedDir, journalName(c.cert))
			if !slices.Equal(rep.Refused, []string{moved}) || !slices.Equal(rep.Reinspect, c.reinspect) ||
				len(rep.RolledForward)+len(rep.Discarded) != 0 {
				t.Fatalf("report = %+v, want %s refused and %v to reinspect", rep, moved, c.reinspect)
			}
			if _, err := os.Stat(moved); err != nil {
				t.Fatalf("refused record not kept: %v", err)
			}
			assertNoJournal(t, s)
			if got := mustRead(t, filepath.Join(dir, target)); !bytes.Equal(got, before) {
				t.Fatalf("%s was replaced by the refused record", target)
			}
			if _, err := os.Stat(filepath.Join(dir, temp)); err != nil {
				t.Fatalf("the refused record's file was touched: %v", err)
			}
			assertOnDisk(t, out, old)
			if got, _ := s.PendingIntents(); len(got) != 0 {
				t.Fatalf("refused record queued %v", got)
			}
			lines := refusedLines(t, logs)
			if len(lines) != 1 || lines[0]["reason"] != c.reason || lines[0]["cert"] != c.cert || lines[0]["path"] != moved {
				t.Fatalf("log = %v, want one journal_record_refused with reason %s", lines, c.reason)
			}
			// The next write of the cert is not blocked by it.
			nw := newPair(t, "new")
			if _, err := s.Commit("web", pairFiles(out, nw), nil); err != nil {
				t.Fatal(err)
			}
			assertOnDisk(t, out, nw)
		})
	}
}

// Records of a cert named only by another cert's output name that cert
// too; a second refusal keeps the first record.
func TestRefusedRecordsKeptAndOwnersNamed(t *testing.T) {
	s := newStore(t)
	out, db := t.TempDir(), t.TempDir()
	allow := allowFiles("web", pairFiles(out, pair{}), nil)
	allow["db"] = allowFiles("db", pairFiles(db, pair{}), nil)["db"]
	for i := range 2 {
		plantRecord(t, s, "web", db, "key.pem", nil)
		rep, err := s.Recover(allow)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(s.Dir(), journalDir, refusedDir, journalName("web"))
		if i == 1 {
			want += ".1"
		}
		if !slices.Equal(rep.Refused, []string{want}) || !slices.Equal(rep.Reinspect, []string{"db", "web"}) {
			t.Fatalf("round %d: report = %+v", i, rep)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(s.Dir(), journalDir, refusedDir)); len(ents) != 2 {
		t.Fatalf("refused/ holds %d records, want 2", len(ents))
	}
}

// Nothing configured, nothing replayed: a nil Allowed is not "anything".
func TestRecoverNilAllowedRefuses(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	plantRecord(t, s, "web", out, "cert.pem", nil)
	rep, err := s.Recover(nil)
	if err != nil || len(rep.Refused) != 1 || len(rep.RolledForward) != 0 {
		t.Fatalf("Recover(nil) = %+v, %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(out, "cert.pem")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("cert.pem appeared: %v", err)
	}
}

// An output reached through a trusted symlink (/var/run -> /run) is
// journaled under the directory the link leads to; recovery still knows
// it as the configured output and rolls it forward.
func TestRecoverAcceptsOutputThroughTrustedLink(t *testing.T) {
	needRoot(t)
	s := newStore(t)
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit("web", pairFiles(link, newPair(t, "old")), nil); err != nil {
		t.Fatal(err)
	}
	s.ops.renameat = renameCrashAt("cert.pem")
	nw := newPair(t, "new")
	in := []Intent{{Unit: "web.service", Action: "restart", Cert: "web"}}
	crash(t, func() { _, _ = s.Commit("web", pairFiles(link, nw), in) })
	s2, err := Open(s.Dir(), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	rep, err := s2.Recover(allowFiles("web", pairFiles(link, nw), in))
	if err != nil || !slices.Equal(rep.RolledForward, []string{"web"}) || len(rep.Refused) != 0 {
		t.Fatalf("Recover = %+v, %v", rep, err)
	}
	assertOnDisk(t, real, nw)
}

// The recovery a Commit does first follows the Allowed set too.
func TestCommitRefusesRecordOutsideConfig(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	if _, err := s.Recover(allowFiles("web", pairFiles(out, pair{}), nil)); err != nil {
		t.Fatal(err)
	}
	victim := t.TempDir()
	if err := os.WriteFile(filepath.Join(victim, "shadow"), []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	plantRecord(t, s, "web", victim, "shadow", nil)
	if _, err := s.Commit("web", pairFiles(out, newPair(t, "a")), nil); err != nil {
		t.Fatal(err)
	}
	if got := mustRead(t, filepath.Join(victim, "shadow")); string(got) != "root's" {
		t.Fatal("Commit replayed a record outside the configuration")
	}
	if _, err := os.Stat(filepath.Join(s.Dir(), journalDir, refusedDir, journalName("web"))); err != nil {
		t.Fatal(err)
	}
}

// A set given by SetAllowedBy is made only when a record must be judged,
// and still governs it; a nil set from it allows nothing.
func TestSetAllowedByMadeWhenJudging(t *testing.T) {
	s := newStore(t)
	out := t.TempDir()
	if _, err := s.Recover(nil); err != nil {
		t.Fatal(err)
	}
	made := 0
	s.SetAllowedBy(func() Allowed { made++; return nil })
	if _, err := s.Commit("web", pairFiles(out, newPair(t, "a")), nil); err != nil {
		t.Fatal(err)
	}
	if made != 0 {
		t.Fatalf("the set was made %d times with no record to judge", made)
	}
	victim := t.TempDir()
	if err := os.WriteFile(filepath.Join(victim, "shadow"), []byte("root's"), 0o600); err != nil {
		t.Fatal(err)
	}
	plantRecord(t, s, "web", victim, "shadow", nil)
	if _, err := s.Commit("web", pairFiles(out, newPair(t, "b")), nil); err != nil {
		t.Fatal(err)
	}
	if made == 0 {
		t.Fatal("the set was not made to judge the record")
	}
	if got := mustRead(t, filepath.Join(victim, "shadow")); string(got) != "root's" {
		t.Fatal("a nil set from SetAllowedBy allowed a record")
	}
}

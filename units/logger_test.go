package units

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/hashicorp/go-hclog"
)

// entry is one journal.Send call captured by fakeJournal.
type entry struct {
	msg  string
	pri  journal.Priority
	vars map[string]string
}

type fakeJournal struct {
	entries []entry
	err     error
}

func (f *fakeJournal) send(msg string, pri journal.Priority, vars map[string]string) error {
	f.entries = append(f.entries, entry{msg, pri, vars})
	return f.err
}

// streamOf returns a JOURNAL_STREAM value naming f.
func streamOf(t *testing.T, f *os.File) string {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func tempStderr(t *testing.T) *os.File {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestJournalStreamDetection(t *testing.T) {
	stderr := tempStderr(t)
	other := tempStderr(t)
	for _, tc := range []struct {
		name, env, format string
		journal           bool
	}{
		{"matching stream, auto", streamOf(t, stderr), "auto", true},
		{"matching stream, empty format", streamOf(t, stderr), "", true},
		{"matching stream, text forced", streamOf(t, stderr), "text", false},
		{"matching stream, json forced", streamOf(t, stderr), "json", false},
		{"other file", streamOf(t, other), "auto", false},
		{"unset", "", "auto", false},
		{"garbage", "12:abc", "auto", false},
		{"no colon", "1234", "auto", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fj := &fakeJournal{}
			var out bytes.Buffer
			l := newLogger(LoggerOptions{Format: tc.format, Output: &out}, tc.env, stderr, fj.send)
			l.Info("hello", "cert", "det")
			gotJournal := len(fj.entries) == 1
			if gotJournal != tc.journal {
				t.Fatalf("journal entries %d, want journal=%v; text output %q", len(fj.entries), tc.journal, out.String())
			}
			if tc.journal && out.Len() != 0 {
				t.Errorf("journal mode also wrote text: %q", out.String())
			}
			if !tc.journal && !strings.Contains(out.String(), "hello") {
				t.Errorf("text output %q lacks the message", out.String())
			}
			if tc.format == "json" && !strings.HasPrefix(out.String(), "{") {
				t.Errorf("json format wrote %q", out.String())
			}
		})
	}
}

func journalLogger(t *testing.T, level hclog.Level) (hclog.Logger, *fakeJournal, *bytes.Buffer) {
	t.Helper()
	stderr := tempStderr(t)
	fj := &fakeJournal{}
	var out bytes.Buffer
	l := newLogger(LoggerOptions{Level: level, Output: &out}, streamOf(t, stderr), stderr, fj.send)
	return l, fj, &out
}

func TestJournalFields(t *testing.T) {
	l, fj, _ := journalLogger(t, hclog.Info)
	l.Named("acme").With("cert", "det", "issuer", "le").Warn("renewal failed",
		"unit", "determined-master.service", "event", "renew_failed",
		"error", errors.New("acme: rateLimited"), "next_try", hclog.Fmt("%dm", 5), "retryAfter", 30)

	if len(fj.entries) != 1 {
		t.Fatalf("got %d entries, want 1", len(fj.entries))
	}
	e := fj.entries[0]
	if e.pri != journal.PriWarning {
		t.Errorf("PRIORITY %d, want %d", e.pri, journal.PriWarning)
	}
	want := map[string]string{
		"SYSLOG_IDENTIFIER":     "certagent",
		"CERTAGENT_COMPONENT":   "acme",
		"CERTAGENT_CERT":        "det",
		"CERTAGENT_ISSUER":      "le",
		"CERTAGENT_UNIT":        "determined-master.service",
		"CERTAGENT_EVENT":       "renew_failed",
		"CERTAGENT_ERROR":       "acme: rateLimited",
		"CERTAGENT_NEXT_TRY":    "5m",
		"CERTAGENT_RETRY_AFTER": "30",
	}
	for k, v := range want {
		if e.vars[k] != v {
			t.Errorf("%s = %q, want %q", k, e.vars[k], v)
		}
	}
	if len(e.vars) != len(want) {
		t.Errorf("fields %v, want exactly %v", e.vars, want)
	}
	wantMsg := `acme: renewal failed cert=det issuer=le unit=determined-master.service event=renew_failed error="acme: rateLimited" next_try=5m retryAfter=30`
	if e.msg != wantMsg {
		t.Errorf("MESSAGE\n got %q\nwant %q", e.msg, wantMsg)
	}
}

// TestJournalMultiLineValue: a value with line breaks keeps them in its
// field, but MESSAGE holds no literal \n (issue 14).
func TestJournalMultiLineValue(t *testing.T) {
	l, fj, _ := journalLogger(t, hclog.Info)
	l.Error("configuration rejected", "error", errors.New("a.toml:1: bad\nb.toml:2: worse\n"))
	e := fj.entries[0]
	if want := `configuration rejected error="a.toml:1: bad; b.toml:2: worse"`; e.msg != want {
		t.Errorf("MESSAGE\n got %q\nwant %q", e.msg, want)
	}
	if e.vars["CERTAGENT_ERROR"] != "a.toml:1: bad\nb.toml:2: worse\n" {
		t.Errorf("CERTAGENT_ERROR = %q, want the lines as logged", e.vars["CERTAGENT_ERROR"])
	}
}

func TestJournalPriorityAndLevel(t *testing.T) {
	l, fj, _ := journalLogger(t, hclog.Trace)
	l.Trace("t")
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Error("e")
	want := []journal.Priority{7, 7, 6, 4, 3}
	if len(fj.entries) != len(want) {
		t.Fatalf("got %d entries, want %d", len(fj.entries), len(want))
	}
	for i, e := range fj.entries {
		if e.pri != want[i] {
			t.Errorf("entry %q: PRIORITY %d, want %d", e.msg, e.pri, want[i])
		}
	}

	// The level is shared with sub-loggers and can change at run time
	// (SIGHUP with a new log_level).
	sub := l.Named("x")
	l.SetLevel(hclog.Warn)
	fj.entries = nil
	sub.Info("dropped")
	sub.Warn("kept")
	if len(fj.entries) != 1 || fj.entries[0].msg != "x: kept" {
		t.Fatalf("after SetLevel(Warn): entries %+v, want only x: kept", fj.entries)
	}
}

func TestJournalDefaultLevelIsInfo(t *testing.T) {
	l, fj, _ := journalLogger(t, hclog.NoLevel)
	l.Debug("no")
	l.Info("yes")
	if len(fj.entries) != 1 || fj.entries[0].msg != "yes" {
		t.Fatalf("entries %+v, want only yes", fj.entries)
	}
}

func TestJournalSendFailureFallsBackToText(t *testing.T) {
	l, fj, out := journalLogger(t, hclog.Info)
	fj.err = errors.New("socket gone")
	l.With("cert", "det").Error("boom")
	if !strings.Contains(out.String(), "boom") || !strings.Contains(out.String(), "cert=det") ||
		!strings.Contains(out.String(), "journal_error=\"socket gone\"") {
		t.Fatalf("fallback output %q lacks message, fields or the journal error", out.String())
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"cert":                  "CERTAGENT_CERT",
		"next_renewal":          "CERTAGENT_NEXT_RENEWAL",
		"retryAfter":            "CERTAGENT_RETRY_AFTER",
		"key-file":              "CERTAGENT_KEY_FILE",
		"a.b":                   "CERTAGENT_A_B",
		"ip4":                   "CERTAGENT_IP4",
		strings.Repeat("x", 80): "CERTAGENT_" + strings.Repeat("X", 54),
	} {
		if got := FieldName(in); got != want {
			t.Errorf("FieldName(%q) = %q, want %q", in, got, want)
		}
	}
}

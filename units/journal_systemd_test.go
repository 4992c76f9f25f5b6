package units

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// TestJournalHelper is not a test on its own: TestLoggerUnderJournald runs
// this test binary inside the container as a systemd service with
// CERTAGENT_JOURNAL_HELPER=1, so that stderr really is a journal stream.
func TestJournalHelper(t *testing.T) {
	if os.Getenv("CERTAGENT_JOURNAL_HELPER") != "1" {
		t.Skip("helper for TestLoggerUnderJournald")
	}
	l := NewLogger(LoggerOptions{Format: os.Getenv("CERTAGENT_LOG_FORMAT")})
	l.Named("acme").With("cert", "det", "issuer", "cluster").Warn("certificate expires soon",
		"event", "expiring", "unit", "determined-master.service", "days_left", 3)
	l.Debug("not logged at info level", "cert", "det")
}

// journalEntry is `journalctl -o json` output; values we read are strings.
type journalEntry map[string]any

func (e journalEntry) str(k string) string { s, _ := e[k].(string); return s }

func TestLoggerUnderJournald(t *testing.T) {
	c := nspawn.Boot(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := c.Share(t, self, 0o755)

	run := func(unit, format string) {
		c.Exec(t, "systemd-run", "--unit="+unit, "--wait", "--quiet",
			"-E", "CERTAGENT_JOURNAL_HELPER=1", "-E", "CERTAGENT_LOG_FORMAT="+format,
			bin, "-test.run=^TestJournalHelper$")
	}
	run("ca-journal", "auto")
	run("ca-journal-text", "text")

	// journalctl as an operator types it.
	entries := waitJournal(t, c, "-u", "ca-journal", "CERTAGENT_CERT=det", "CERTAGENT_EVENT=expiring")
	if len(entries) != 1 {
		t.Fatalf("journalctl -u ca-journal CERTAGENT_CERT=det CERTAGENT_EVENT=expiring: %d entries, want 1", len(entries))
	}
	e := entries[0]
	want := map[string]string{
		"PRIORITY":            "4",
		"SYSLOG_IDENTIFIER":   "certagent",
		"CERTAGENT_COMPONENT": "acme",
		"CERTAGENT_ISSUER":    "cluster",
		"CERTAGENT_UNIT":      "determined-master.service",
		"CERTAGENT_DAYS_LEFT": "3",
		"MESSAGE": "acme: certificate expires soon cert=det issuer=cluster event=expiring " +
			"unit=determined-master.service days_left=3",
	}
	for k, v := range want {
		if got := e.str(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if all := waitJournal(t, c, "-u", "ca-journal", "SYSLOG_IDENTIFIER=certagent"); len(all) != 1 {
		t.Errorf("%d certagent entries from ca-journal, want 1 (debug must be filtered)", len(all))
	}

	// Forced text format goes through the stderr stream: no fields.
	text := waitJournal(t, c, "-u", "ca-journal-text", "-t", "units.test")
	found := false
	for _, e := range text {
		if strings.Contains(e.str("MESSAGE"), "certificate expires soon") {
			found = true
			if e.str("CERTAGENT_CERT") != "" {
				t.Errorf("text mode entry has CERTAGENT_CERT: %v", e)
			}
		}
	}
	if !found {
		t.Errorf("text-mode line not in the journal; got %v", text)
	}
}

// waitJournal polls journalctl inside the container until it returns at
// least one entry (journald writes asynchronously) or 10 s pass.
func waitJournal(t *testing.T, c *nspawn.Container, args ...string) []journalEntry {
	t.Helper()
	var entries []journalEntry
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := c.Exec(t, append([]string{"journalctl", "--no-pager", "-o", "json"}, args...)...)
		entries = entries[:0]
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line == "" || line == "-- No entries --" {
				continue
			}
			var e journalEntry
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("journalctl -o json line %q: %v", line, err)
			}
			entries = append(entries, e)
		}
		if len(entries) > 0 || time.Now().After(deadline) {
			return entries
		}
		time.Sleep(200 * time.Millisecond)
	}
}

package agent

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzSummary: whatever the errors and names (multi-byte runes at every
// cut point, invalid UTF-8 from a file name), the status line is valid
// UTF-8, which systemd requires of STATUS=, and at most StatusLineMax.
func FuzzSummary(f *testing.F) {
	f.Add("web", strings.Repeat("…", 40), "db", "x", "")
	f.Add("a", strings.Repeat("é", 100), strings.Repeat("ü", 90), "\xff\xfe", "inotify unavailable (too many open files)")
	f.Add("n", "ab"+strings.Repeat("😀", 30), "m", strings.Repeat("€", 70), strings.Repeat("…", 50))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, name1, err1, name2, err2, degraded string) {
		rows := []CertStatus{
			{Name: name1, State: StateFailed, LastError: err1, NextRenewal: now.Add(time.Hour)},
			{Name: name2, State: StateMissing, LastError: err2},
			{Name: "ok", State: StateOK, NextRenewal: now.Add(48 * time.Hour)},
		}
		for _, rs := range [][]CertStatus{rows, rows[:1], nil} {
			s := Summary(rs, now, degraded)
			if !utf8.ValidString(s) {
				t.Fatalf("status line is not valid UTF-8: %q", s)
			}
			if len(s) > StatusLineMax {
				t.Fatalf("status line is %d bytes, more than %d: %q", len(s), StatusLineMax, s)
			}
		}
	})
}

// TestSummaryCutsOnRuneBoundaries: an error of "…" runes cut at 60 bytes
// used to end in a split rune.
func TestSummaryCutsOnRuneBoundaries(t *testing.T) {
	now := time.Now()
	rows := []CertStatus{{Name: "web", State: StateFailed, LastError: "x" + strings.Repeat("…", 40)}}
	s := Summary(rows, now, "")
	if !utf8.ValidString(s) || !strings.Contains(s, "1 failing (web: x…") {
		t.Fatalf("Summary = %q", s)
	}
	if got := Summary(nil, now, "inotify unavailable (too many open files), polling every 10s"); got !=
		"no certs configured, watch degraded: inotify unavailable (too many open files), polling every 10s" {
		t.Fatalf("Summary with a degraded watcher = %q", got)
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, "…"},
		{"abcdef", 5, "ab…"},
		{"a€€€", 7, "a€…"}, // 1+3 bytes, then "…" (3 bytes)
		{"a€€€", 6, "a…"},
		{"\xffab", 10, "\uFFFDab"},
		{"abcdef", 2, ""},
	} {
		if got := clip(tc.in, tc.n); got != tc.want || len(got) > tc.n {
			t.Errorf("clip(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

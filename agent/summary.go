package agent

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// StatusLineMax is the most bytes Summary returns. `systemctl status`
// shows one line; a longer one only wraps, and the details are in
// `certagent status`.
const StatusLineMax = 300

// Lengths of the parts of the status line that come from free text
// (errors, names): each is cut to its share so the counts survive.
const (
	summaryErrMax     = 60
	summaryFailingMax = 160
	summaryWatchMax   = 80
)

// Summary is the one-line STATUS= text, e.g.
// "12 certs ok, 1 failing (web: acme rateLimited), next renewal det in 19d".
// watchDegraded, when not empty, is why file watching is degraded; it is
// shown as "watch degraded: <reason>". The line is valid UTF-8 (systemd
// ignores a STATUS= that is not) and at most StatusLineMax bytes.
func Summary(rows []CertStatus, now time.Time, watchDegraded string) string {
	var b strings.Builder
	if len(rows) == 0 {
		b.WriteString("no certs configured")
	} else {
		summarizeRows(&b, rows, now)
	}
	if watchDegraded != "" {
		b.WriteString(", watch degraded: " + clip(watchDegraded, summaryWatchMax))
	}
	return clip(b.String(), StatusLineMax)
}

func summarizeRows(b *strings.Builder, rows []CertStatus, now time.Time) {
	ok := 0
	var failing []string
	var next *CertStatus
	for i := range rows {
		r := &rows[i]
		switch r.State {
		case StateOK, StateExpiring, StateRenewing:
			ok++
		default:
			reason := r.State
			if r.LastError != "" {
				reason = clip(r.LastError, summaryErrMax)
			}
			failing = append(failing, r.Name+": "+reason)
		}
		if !r.NextRenewal.IsZero() && (next == nil || r.NextRenewal.Before(next.NextRenewal)) {
			next = r
		}
	}
	fmt.Fprintf(b, "%d %s ok", ok, plural(ok, "cert", "certs"))
	if len(failing) > 0 {
		fmt.Fprintf(b, ", %d failing (%s)", len(failing), clip(strings.Join(failing, "; "), summaryFailingMax))
	}
	if next != nil {
		fmt.Fprintf(b, ", next renewal %s in %s", next.Name, HumanDuration(next.NextRenewal.Sub(now)))
	}
}

// clip returns s as valid UTF-8 (invalid bytes become U+FFFD) of at most
// n bytes, cut on a rune boundary and marked with "…" when cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	cut := max(n-len(ellipsis), 0)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if n < len(ellipsis) {
		return s[:cut]
	}
	return s[:cut] + ellipsis
}

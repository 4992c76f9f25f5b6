package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Markers around the section in docs/benchmarks.md.
const (
	beginMark = "<!-- fleet:begin (written by bench/fleet) -->"
	endMark   = "<!-- fleet:end -->"
)

// readingNote explains what shapes the figures; it holds no figure.
const readingNote = "" +
	"All N daemons start in the same second and enroll within seconds, so their first renewals share one jitter\n" +
	"window (10 % of the lifetime); each later renewal draws again and the fleet spreads\n" +
	"further. Each renewal is four requests to step-ca: `/1.0/rekey` and the trust refresh (`/roots`,\n" +
	"`/federation`, `/intermediates`). step-ca's busiest second is the enrollment burst at the start.\n"

// section renders the Fleet section of docs/benchmarks.md.
func (m *results) section(p params) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Fleet: %d daemons against one step-ca\n\n", m.n)
	w("Written by `go run ./bench/fleet -n %d -life %s -observe %s -outage %s -write`, %s UTC, took %s.\n",
		m.n, p.life, p.observe, p.outage, m.started.UTC().Format("2006-01-02 15:04"), m.ended.Sub(m.started).Round(time.Second))
	w("Each certagent runs in its own network namespace (veth pairs on a bridge, a private /24 inside namespaces the\n")
	w("run creates and removes), with **one shared config** (the same cert name and SANs on every host, each host's\n")
	w("directory bind-mounted at the same path), enrolled with its own one-time token from the `step` CLI, renewing\n")
	w("over mTLS (`/1.0/rekey`) against one step-ca v0.30.2 whose certs live %s. Everything runs on this\n", p.life)
	w("machine (see Machine above), step-ca included, so the daemons, the CA and the kernel share its CPUs.\n\n")

	w("| what | figure |\n|---|---|\n")
	w("| issued / N | %d / %d |\n", m.issued, m.n)
	w("| time from start to all issued | %s (all %d daemons started at once) |\n", m.allIssued.Round(10*time.Millisecond), m.n)
	rpm := float64(m.obsRenewals) / m.obsMinutes
	w("| renewals per minute (steady state) | %.1f (%d renewals in %.1f min; %.2f per host per minute) |\n",
		rpm, m.obsRenewals, m.obsMinutes, rpm/float64(m.n))
	busiest := 0
	for _, c := range m.perSecond {
		busiest = max(busiest, c)
	}
	w("| distinct renewal seconds (steady state) | %d seconds for %d renewals; at most %d renewals in one second |\n",
		len(m.perSecond), m.obsRenewals, busiest)
	w("| CA outage | step-ca killed (SIGKILL) for %s; %d of %d hosts failed a renewal meanwhile |\n",
		m.back.Sub(m.down).Round(time.Second), m.failedInOutage, m.n)
	w("| recovery | %d / %d hosts renewed after step-ca returned, the last %s after it; first renewals in %d distinct seconds |\n",
		m.recovered, m.n, m.recoveryAll.Round(time.Second), len(m.recoverySeconds))
	w("| certs that expired | %d |\n", m.expired)
	lo, hi := minMax(m.rssKB)
	w("| per-agent RSS (smaps_rollup) | median %s (%s–%s, n=%d) |\n", kib(median(m.rssKB)), kib(lo), kib(hi), len(m.rssKB))
	lo, hi = minMax(m.pssKB)
	w("| per-agent PSS (smaps_rollup) | median %s (%s–%s); all %d agents together %s |\n",
		kib(median(m.pssKB)), kib(lo), kib(hi), len(m.pssKB), kib(sum(m.pssKB)))
	perAgent := m.cpuSecs / float64(m.n)
	w("| per-agent CPU | %.2f s over %s (%.3f %% of one CPU), start and renewals included |\n",
		perAgent, m.cpuWall.Round(time.Second), 100*perAgent/m.cpuWall.Seconds())
	w("| step-ca requests per second | %.1f on average over %s (%d requests), %d in the busiest second |\n\n",
		float64(m.caRequests)/m.caSpan.Seconds(), m.caSpan.Round(time.Second), m.caRequests, m.caPeak)

	w("%s\n", readingNote)
	w("Renewals per second in the steady-state window (how many seconds saw k renewals):\n\n")
	w("| renewals in the second | seconds |\n|---|---|\n")
	for k, c := range histogram(m.perSecond) {
		if k > 0 && c > 0 {
			w("| %d | %d %s |\n", k, c, strings.Repeat("█", min(60, c)))
		}
	}
	w("\nstep-ca requests by path over the run:\n\n| path | requests |\n|---|---|\n")
	paths := make([]string, 0, len(m.caByPath))
	for k := range m.caByPath {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, k := range paths {
		w("| `%s` | %d |\n", k, m.caByPath[k])
	}
	w("\n")
	return b.String()
}

func kib(v int64) string { return fmt.Sprintf("%.1f MiB", float64(v)/1024) }

func sum(v []int64) int64 {
	var s int64
	for _, x := range v {
		s += x
	}
	return s
}

// writeSection keeps the section in docs/benchmarks/fleet.md and puts it
// between the markers in docs/benchmarks.md (before "What could not be
// run" when the markers are not there yet).
func writeSection(root, page string) error {
	if err := os.MkdirAll(filepath.Join(root, "docs", "benchmarks"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "docs", "benchmarks", "fleet.md"), []byte(page), 0o644); err != nil {
		return err
	}
	p := filepath.Join(root, "docs", "benchmarks.md")
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return os.WriteFile(p, []byte(splice(string(b), page)), 0o644)
}

// splice replaces the marked section of doc with page, or inserts it.
func splice(doc, page string) string {
	block := beginMark + "\n" + page + endMark + "\n"
	if i, j := strings.Index(doc, beginMark), strings.Index(doc, endMark); i >= 0 && j > i {
		return doc[:i] + block + strings.TrimPrefix(doc[j+len(endMark):], "\n")
	}
	if i := strings.Index(doc, "## What could not be run"); i >= 0 {
		return doc[:i] + block + "\n" + doc[i:]
	}
	return doc + "\n" + block
}

package agent

import (
	"slices"
	"sort"
	"time"
)

// Snapshot returns the status of every cert and watch-only pair as the
// Run goroutine last published it (at the end of each pass, and when
// renewals start and end). Safe to call from any goroutine: it reads only
// that published copy, never the scheduler's state, and returns a copy
// the caller may change.
func (a *Agent) Snapshot() []CertStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	return copyRows(a.snap)
}

// rows computes the status of every cert from the scheduler's state. Run
// goroutine only.
func (a *Agent) rows(now time.Time) []CertStatus {
	out := make([]CertStatus, 0, len(a.certs)+len(a.watches))
	for _, st := range a.certs {
		out = append(out, a.rowOf(st, now))
	}
	for _, ws := range a.watches {
		out = append(out, a.watchRow(ws, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if d := a.watchDegraded(); d != "" {
		for i := range out {
			out[i].WatchDegraded = d
		}
	}
	return out
}

// share publishes rows for Snapshot. Run goroutine only.
func (a *Agent) share(rows []CertStatus) {
	c := copyRows(rows)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.snap = c
	if a.shared != nil {
		a.sharedOnce.Do(func() { close(a.shared) })
	}
}

// Shared is closed once the Run goroutine has shared the status of the
// configured certs for the first time, early in the first pass; until
// then Snapshot is empty. Safe to call from any goroutine.
func (a *Agent) Shared() <-chan struct{} {
	if a.shared == nil { // an Agent not made by New
		c := make(chan struct{})
		close(c)
		return c
	}
	return a.shared
}

// copyRows copies rows and the slices and records they point to.
func copyRows(rows []CertStatus) []CertStatus {
	out := make([]CertStatus, len(rows))
	for i, r := range rows {
		r.SANs = slices.Clone(r.SANs)
		r.Problems = slices.Clone(r.Problems)
		if r.Revocation != nil {
			rv := *r.Revocation
			r.Revocation = &rv
		}
		if r.CARotation != nil {
			cr := *r.CARotation
			r.CARotation = &cr
		}
		out[i] = r
	}
	return out
}

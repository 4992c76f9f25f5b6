package agent

import (
	"slices"
	"sort"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// Snapshot returns the status of every cert and watch-only pair as the
// Run goroutine last published it (at the end of each pass, and when
// renewals start and end). Safe to call from any goroutine: it reads only
// that published copy, never the scheduler's state, and returns a copy
// the caller may change.
func (a *Agent) Snapshot() []CertStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]CertStatus, len(a.snap))
	for i := range a.snap {
		out[i] = a.snap[i].row()
	}
	return out
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
	c := make([]sharedRow, len(rows))
	for i, r := range rows {
		var cert *config.Cert
		if a.cfg != nil {
			cert = a.cfg.Certs[r.Name]
		}
		c[i] = shareRow(r, cert)
	}
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

// sharedRow is one row of the published status, kept between passes.
// Most rows are those of healthy certs and need only the fields below,
// with the issuer and SANs those of the cert's config (which is never
// changed, only replaced); a row with anything else set (an error,
// problems, a revocation, a CA rotation…) is kept whole in full. A
// CertStatus is 280 bytes and a copy of its SANs; this, 136.
type sharedRow struct {
	full *CertStatus // the whole row; nil: the fields below are the row

	cert                          *config.Cert // issuer and SANs
	name, serial, state, issuedBy string
	notAfter, nextRenewal         time.Time
	failures                      int
}

// shareRow is r as the published status keeps it; cert is the config of
// the cert r is the row of, or nil.
func shareRow(r CertStatus, cert *config.Cert) sharedRow {
	if cert == nil || r.Issuer != cert.Issuer || !isSANsOf(r.SANs, cert) ||
		r.LastError != "" || len(r.Problems) > 0 || r.KeyRemoved || !r.RetryAfter.IsZero() ||
		r.Revocation != nil || r.CRLError != "" || r.WatchDegraded != "" || r.CARotation != nil {
		c := copyRow(r)
		return sharedRow{full: &c}
	}
	return sharedRow{cert: cert, name: r.Name, serial: r.Serial, state: r.State, issuedBy: r.IssuedBy,
		notAfter: r.NotAfter, nextRenewal: r.NextRenewal, failures: r.Failures}
}

// row is a copy of the shared row that its caller may change.
func (s *sharedRow) row() CertStatus {
	if s.full != nil {
		return copyRow(*s.full)
	}
	return CertStatus{Name: s.name, Issuer: s.cert.Issuer, SANs: sansOf(s.cert), Serial: s.serial,
		NotAfter: s.notAfter, NextRenewal: s.nextRenewal, State: s.state, Failures: s.failures, IssuedBy: s.issuedBy}
}

// sansOf is the SANs column of c's status row: never nil, so that JSON
// shows an empty list.
func sansOf(c *config.Cert) []string {
	return append(append(make([]string, 0, len(c.DNSNames)+len(c.IPAddresses)), c.DNSNames...), c.IPAddresses...)
}

// isSANsOf reports whether sans is sansOf(c).
func isSANsOf(sans []string, c *config.Cert) bool {
	n := len(c.DNSNames)
	return sans != nil && len(sans) == n+len(c.IPAddresses) &&
		slices.Equal(sans[:n], c.DNSNames) && slices.Equal(sans[n:], c.IPAddresses)
}

// copyRow copies r and the slices and records it points to.
func copyRow(r CertStatus) CertStatus {
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
	return r
}

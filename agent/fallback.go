package agent

// Issuer fallback: a cert's issuer key may list several issuers. Each
// issuance tries them in order and stops at the first that issues; the
// next issuance starts again with the first (nothing is remembered but
// which issuer issued the cert on disk, for status and metrics).

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// issueFrom asks the cert's issuers in order for a bundle. It moves on to
// the next issuer when one fails, except when the failure is a CA's
// Retry-After short enough to wait for (fallback_wait) or the pass is
// being cancelled: then that error is returned as is. Each attempt gets
// its own issueTimeout. It runs on a worker goroutine and reads st only.
func (a *Agent) issueFrom(ctx context.Context, st *certState, req Request) (*Bundle, error) {
	c := st.cfg
	names := issuerNames(st)
	var fails []string
	var waits []time.Time // each failed issuer's Retry-After, if it gave one
	for i, name := range names {
		iss := a.issuers[name]
		if iss == nil {
			fails = append(fails, fmt.Sprintf("issuer %q is not available", name))
			continue
		}
		b, err := a.issueOnce(ctx, iss, req)
		if err == nil {
			if b != nil {
				b.issuer = name
				b.otherRoots = a.otherRoots(ctx, names, name)
			}
			if i > 0 {
				a.log.Warn("certificate issued by a fallback issuer", "event", "issuer_fallback_used",
					"cert", st.name, "issued_by", name, "primary", names[0])
			}
			return b, nil
		}
		if until, ok := RetryAfter(err); ok {
			waits = append(waits, until)
		}
		last := i == len(names)-1
		if last || ctx.Err() != nil || a.waitFor(st, err) {
			if len(fails) == 0 {
				return nil, err
			}
			fails = append(fails, fmt.Sprintf("%s: %v", name, err))
			return nil, allFailed(fails, waits)
		}
		a.log.Warn("issuer failed; trying the next one", "event", "issuer_fallback",
			"cert", c.Name, "issuer", name, "next", names[i+1], "error", err)
		fails = append(fails, fmt.Sprintf("%s: %v", name, err))
	}
	return nil, allFailed(fails, waits)
}

// allFailed is the error of a list whose every issuer failed. Only when
// every one of them asked to be left alone (Retry-After) does it carry a
// retry time, the earliest: one CA's wait must not hold back the others.
func allFailed(fails []string, waits []time.Time) error {
	err := &fallbackError{msgs: fails}
	if len(waits) == 0 || len(waits) < len(fails) {
		return err
	}
	earliest := waits[0]
	for _, w := range waits[1:] {
		if w.Before(earliest) {
			earliest = w
		}
	}
	return &RetryAfterError{Until: earliest, Err: err}
}

// issueOnce is one issuer's attempt, bounded by issueTimeout.
func (a *Agent) issueOnce(ctx context.Context, iss Issuer, req Request) (*Bundle, error) {
	ctx, cancel := context.WithTimeout(ctx, issueTimeout)
	defer cancel()
	return iss.Issue(ctx, req)
}

// waitFor reports whether err is a CA's Retry-After short enough, as a
// share of the remaining lifetime of the cert on disk (fallback_wait),
// to wait for rather than ask the next issuer.
func (a *Agent) waitFor(st *certState, err error) bool {
	until, ok := RetryAfter(err)
	if !ok || st.leaf == nil {
		return false
	}
	now := a.clock.Now()
	left := st.leaf.NotAfter().Sub(now)
	if left <= 0 {
		return false
	}
	return until.Sub(now) <= time.Duration(float64(left)*st.cfg.FallbackWaitFraction)
}

// fallbackError is the failure of every issuer of a list (see allFailed
// for its retry time).
type fallbackError struct{ msgs []string }

func (e *fallbackError) Error() string {
	return "every issuer failed: " + strings.Join(e.msgs, "; ")
}

// issuerNames is the cert's ordered issuer list.
func issuerNames(st *certState) []string {
	if len(st.cfg.IssuerList) > 0 {
		return st.cfg.IssuerList
	}
	return []string{st.cfg.Issuer}
}

// otherRoots are the roots of the cert's issuers other than the one that
// issued, for ca_file: a peer that trusts ca_file must accept a cert from
// any of them. An issuer that cannot name its roots (ACME) contributes
// the roots it returned with its last bundle, once it issued one.
func (a *Agent) otherRoots(ctx context.Context, names []string, used string) []*x509.Certificate {
	var out []*x509.Certificate
	for _, name := range names {
		if name == used {
			continue
		}
		rs, err := a.rootsOf(ctx, name)
		if err != nil {
			a.log.Warn("cannot read the roots of a fallback issuer for ca_file", "issuer", name, "error", err)
		}
		out = append(out, rs...)
	}
	return out
}

// rootsOf is an issuer's roots, or the ones it last issued under.
func (a *Agent) rootsOf(ctx context.Context, name string) ([]*x509.Certificate, error) {
	if iss := a.issuers[name]; iss != nil {
		rs, err := iss.Roots(ctx)
		if err != nil || len(rs) > 0 {
			return rs, err
		}
	}
	return readLearnedRoots(a.cfg.Agent.StateDir, name)
}

// caFileRoots is what ca_file holds: the issuing root first, then the
// other issuers' roots, each once.
func caFileRoots(b *Bundle) []*x509.Certificate {
	out := append([]*x509.Certificate{}, b.Roots...)
	for _, r := range b.otherRoots {
		if !containsCert(out, r) {
			out = append(out, r)
		}
	}
	return out
}

func containsCert(list []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range list {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

// rootsFor are the trust anchors a cert on disk is checked against: those
// of every issuer in its list, since any of them may have issued it. When
// one of them cannot name its roots (ACME), the check is skipped (nil).
func rootsFor(st *certState, roots map[string][]*x509.Certificate) []*x509.Certificate {
	names := issuerNames(st)
	if len(names) == 1 {
		return roots[names[0]]
	}
	var out []*x509.Certificate
	for _, n := range names {
		rs, ok := roots[n]
		if !ok || rs == nil {
			return nil
		}
		out = append(out, rs...)
	}
	return out
}

// caFileCurrent reports whether ca_file still holds the primary's current
// roots (want). A one-issuer cert's ca_file must be exactly those; with
// an issuer list it also holds the other issuers' roots, so it must
// contain them all.
func caFileCurrent(st *certState, have, want []*x509.Certificate) bool {
	if len(issuerNames(st)) == 1 {
		return sameCertSet(have, want)
	}
	for _, w := range want {
		if !containsCert(have, w) {
			return false
		}
	}
	return true
}

// renewsWithCurrentKey reports whether an issuer of the cert's list
// renews with the current key (step-ca over mutual TLS), so that
// Request.CurrentKey must be filled.
func (a *Agent) renewsWithCurrentKey(st *certState) bool {
	for _, n := range issuerNames(st) {
		if kr, ok := a.issuers[n].(KeyRenewer); ok && kr.RenewsWithCurrentKey() {
			return true
		}
	}
	return false
}

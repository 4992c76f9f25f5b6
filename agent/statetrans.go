package agent

// Transitions of a cert's state. Each one changes only the certState: it
// reads no file, logs nothing and calls no issuer. The Agent, the
// side-effecting shell around them, reads the files (observeCert), calls
// the issuers and the service manager, and logs what a transition
// reports. `certagent status` without a daemon (statusdisk.go) runs the
// same transitions with no Agent at all.

import (
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// observe takes in one reading of the files. The renewal time is planned
// after it (plan), once any record adopted for the cert on disk is applied.
func (s *certState) observe(o observation, now time.Time) {
	s.inspected = now
	s.leaf, s.problems, s.keyRemoved = o.leaf, o.problems, o.keyRemoved
	s.revoked = o.revoked
	if o.leaf != nil && o.leaf.serial == s.issuedSerial {
		s.issuedSerial = o.leaf.serial // one copy of the string, not two
	}
}

// plan sets the renewal time of the cert on disk under p: the policy's
// time (inside the ARI window when one is known), floored after an
// issuance by this process. Without a cert there is nothing to plan.
func (s *certState) plan(p Policy) {
	if s.leaf == nil {
		return
	}
	s.renewAt, s.reason = RenewAt(p, s.leaf.NotBefore(), s.leaf.NotAfter(), s.ari.renewalWindow())
	s.floorRenewal()
}

// floorRenewal prevents a hot loop: a cert we just issued that the policy
// already finds due (a back-dated NotBefore on a very short cert, or a
// renew_before longer than what the CA granted) is renewed half-way
// through its remaining lifetime instead of at once.
func (s *certState) floorRenewal() {
	if s.issuedAt.IsZero() || s.leaf.Serial() != s.issuedSerial || s.renewAt.After(s.issuedAt) {
		return
	}
	if w := s.ari.renewalWindow(); w != nil && !w.End.After(s.issuedAt) {
		return // an ARI window already past asks for renewal now
	}
	s.renewAt = s.issuedAt.Add(s.leaf.NotAfter().Sub(s.issuedAt) / 2)
	s.reason = "the policy left no time after issuance; half of the remaining lifetime"
}

// recordFailure counts a failed attempt to replace (or restore) the cert
// on disk, with errText as the error shown to operators. The failure is
// about the serial on disk now: a different valid cert appearing later
// makes it moot (dropMootFailure). The caller sets the retry time.
func (s *certState) recordFailure(errText string) {
	s.failures++
	s.lastErr = errText
	s.failedSerial = s.leaf.Serial()
}

// recordSuccess forgets the failures, the token wait and the ARI window of
// the replaced cert after leaf was issued and written at now; it remembers
// the issuance for the no-hot-loop floor (floorRenewal). The files are
// observed again by the caller.
func (s *certState) recordSuccess(leaf *leafSummary, now time.Time) {
	s.failures, s.retryAt, s.caRetryAt, s.lastErr = 0, time.Time{}, time.Time{}, ""
	s.needsToken, s.tokenWait = false, nil
	s.ari = nil
	s.issuedAt, s.issuedSerial = now, leaf.Serial()
}

// forgetFailure clears a failure and its backoff.
func (s *certState) forgetFailure() {
	s.failures, s.retryAt, s.caRetryAt, s.lastErr, s.failedSerial = 0, time.Time{}, time.Time{}, "", ""
}

// dropMootFailure forgets a failure once a valid cert other than the one
// on disk at the failure has appeared: something else (a one-shot
// `certagent renew`, an operator) replaced it, so the backoff and the
// "failed" state no longer describe anything. It returns the number of
// failures forgotten (0: nothing changed).
func (s *certState) dropMootFailure() int {
	n := s.failures
	if n == 0 || s.leaf == nil || len(s.problems) > 0 || s.leaf.Serial() == s.failedSerial {
		return 0
	}
	s.forgetFailure()
	return n
}

// adoption is what adopt made of a record written by another process.
type adoption int

const (
	adoptedNothing  adoption = iota // the record is about another cert on disk
	adoptedRecovery                 // a one-shot found the cert fine: failure cleared
	adoptedFailure                  // the recorded failure and its backoff now hold here
)

// adopt applies a status row recorded by another process (an earlier
// daemon, a one-shot `certagent renew`) when it describes the cert still
// on disk, or still no cert at all (a first issuance that failed): its
// failure count, error and backoff, or its recovery. A retry time already
// past is not carried: the cert is retried now.
func (s *certState) adopt(r CertStatus, now time.Time) adoption {
	if r.Serial != s.leaf.Serial() {
		return adoptedNothing
	}
	if r.Failures == 0 {
		s.forgetFailure()
		return adoptedRecovery
	}
	s.failures, s.lastErr, s.failedSerial = r.Failures, r.LastError, r.Serial
	if r.NextRenewal.After(now) {
		s.retryAt = r.NextRenewal
	}
	s.caRetryAt = r.RetryAfter
	return adoptedFailure
}

// showRecorded merges what the daemon last recorded for the cert still on
// disk into a state built from the files alone, for `certagent status`
// without a daemon: failures, backoff, a renewal or token wait in
// progress, the CRL error, and the renewal time the daemon planned.
func (s *certState) showRecorded(r CertStatus) {
	if r.Serial != s.leaf.Serial() {
		return
	}
	s.failures, s.lastErr = r.Failures, r.LastError
	s.renewing = r.State == StateRenewing
	s.needsToken = r.State == StateNeedsToken
	if r.Failures > 0 {
		s.retryAt = r.NextRenewal // the daemon retries then (see due)
	}
	s.caRetryAt = r.RetryAfter
	if s.crl.errText() == "" && r.CRLError != "" {
		s.crlOf().err = r.CRLError
	}
	if rv := r.Revocation; rv != nil && rv.Pending && s.revoked != nil && s.revoked.Serial == rv.Serial {
		s.revokeRetry = &revokeRetry{err: rv.Error, at: rv.RetryAt}
	}
	// The daemon may have planned this very cert inside an ARI window,
	// which only it knows: status contacts no CA. Its recorded time is
	// the one it will act on.
	if r.Failures == 0 && s.leaf != nil && !r.NextRenewal.IsZero() {
		s.renewAt = r.NextRenewal
	}
}

// observe takes in one reading of a watch-only pair's files.
func (ws *watchState) observe(rep pki.Report, now time.Time) {
	ws.inspected, ws.problems, ws.leaf = now, rep.Problems, summarize(rep.Leaf)
	ws.sans = nil
	if rep.Leaf != nil {
		ws.sans = append(append([]string{}, rep.Leaf.DNSNames...), ipStrings(rep.Leaf)...)
	}
}

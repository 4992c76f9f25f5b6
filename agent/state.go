package agent

import (
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
)

// Cert states as shown by `certagent status` and in metrics.
const (
	StateOK       = "ok"
	StateExpiring = "expiring"
	StateDue      = "due"
	StateRenewing = "renewing"
	StateFailed   = "failed"
	StateMissing  = "missing"
	StateExpired  = "expired"
	// StateNeedsToken is a cert that cannot be issued or renewed until an
	// operator puts a new enrollment token in its issuer's token_file: the
	// token is missing, expired or used, the CA refused the current cert
	// (revoked, expired past what the CA allows), or the names changed
	// (token.go).
	StateNeedsToken = "needs_token"
	// StateNotYetValid is a cert whose NotBefore is ahead of the system
	// clock: peers on this host refuse it until the clock catches up.
	StateNotYetValid = "not_yet_valid"
	// StateInvalid is a watch-only pair that is unusable (mismatched,
	// unparsable); certagent does not repair what it does not manage.
	StateInvalid = "invalid"
	// StateRevoked is a cert whose serial on disk was revoked (`certagent
	// revoke`) and not yet replaced: peers that check CRLs refuse it.
	StateRevoked = "revoked"
	// StateRevokePending is a cert whose old serial must still be revoked
	// by an issuer that revokes after re-issuing (step): the new pair is
	// deployed, the CA has not accepted the revocation yet, and every
	// pass retries it.
	StateRevokePending = "revoke_pending"
)

// certState is what the scheduler knows about one managed cert between
// passes. It is owned by the Run goroutine (Snapshot reads only the rows
// that goroutine shares). Its methods read no files and log nothing: the
// transitions are in statetrans.go, and the Agent logs what they report.
type certState struct {
	name string
	cfg  *config.Cert

	inspected time.Time    // when the files were last inspected
	leaf      *leafSummary // nil: no readable certificate
	problems  []pki.Problem

	renewAt time.Time // policy time for the cert on disk
	reason  string

	failures int
	retryAt  time.Time // backoff or CA-imposed retry time
	// caRetryAt is retryAt when a CA's Retry-After set it; it binds even
	// a one-shot renew (see RenewOnce).
	caRetryAt time.Time
	lastErr   string
	// failedSerial is the serial on disk when the last failure was
	// recorded: a different valid cert appearing later (a one-shot
	// `certagent renew`, an operator) makes that failure moot.
	failedSerial string

	lastWarn time.Time // last expiry warning

	// issuedBy is the issuer recorded for the cert with serial
	// issuedBySerial (fallback_record.go).
	issuedBy, issuedBySerial string

	ari *ariState // nil: no ARI poll yet (or since the last issuance)

	renewing bool

	// keyRemoved: remove_key_after_start deleted the key of the cert on
	// disk on purpose; that is not damage.
	keyRemoved bool

	// settleUntil delays the judgement of files an outside writer just
	// broke: a tool writing key and cert in two steps is mid-way.
	settleUntil time.Time

	// issuedAt and issuedSerial remember this process's last issuance,
	// for the no-hot-loop floor in inspect.
	issuedAt     time.Time
	issuedSerial string

	// needsToken: the issuer needs a new enrollment token; nothing is
	// tried until the token file differs from tokenWait's stamp (see
	// token.go). tokenWait is nil when no such wait was seen by this
	// process (`certagent status` from the status file), and kept apart
	// because few certs ever wait: 64 bytes less in every certState.
	needsToken bool
	tokenWait  *tokenWait
	// revoked is the cert's last revocation record (revocations.go).
	revoked *revocationRecord
	// revokeRetry tracks the failed attempts at a pending revocation
	// (revokepending.go); nil: none.
	revokeRetry *revokeRetry
	// crl is the CRL kept for crl_file (crl.go); nil for a cert without
	// one, until a pass syncs it.
	crl *crlState
}

// ariState is what the scheduler keeps of a cert's ACME Renewal
// Information. Only certs of an ACME issuer with ARI have one, so
// certState keeps it behind a pointer: 24 bytes less for every other cert.
type ariState struct {
	window *RenewalWindow // nil: none known; the lifetime policy applies
	next   time.Time      // when to poll ARI again
}

// renewalWindow is the ARI window known; nil for none (or a nil s).
func (s *ariState) renewalWindow() *RenewalWindow {
	if s == nil {
		return nil
	}
	return s.window
}

// nextPoll is when to poll ARI again; zero for now (or a nil s).
func (s *ariState) nextPoll() time.Time {
	if s == nil {
		return time.Time{}
	}
	return s.next
}

// due reports whether the cert must be renewed at now, and why.
func (s *certState) due(now time.Time) (bool, string) {
	if s.needsToken || now.Before(s.retryAt) || now.Before(s.settleUntil) {
		return false, ""
	}
	if s.reissueRevoked() {
		return true, "revoked (" + s.revoked.Reason + ")"
	}
	if s.damaged() {
		return true, s.problems[0].Detail
	}
	if s.leaf == nil {
		return true, "no certificate on disk"
	}
	// A failed attempt is retried at the retry time it logged, even when
	// the cert on disk is not due (a forced renewal that was rolled back):
	// the logged retry_at is the one that happens.
	if s.failures > 0 {
		return true, "retrying after a failure"
	}
	if !now.Before(s.renewAt) {
		return true, "renewal time reached: " + s.reason
	}
	return false, ""
}

// nextRenewal is when the scheduler will next try to renew: after a
// failure, the retry time (see due).
func (s *certState) nextRenewal() time.Time {
	if s.needsToken {
		return time.Time{} // a token file change wakes it, not a timer
	}
	if s.failures > 0 || s.retryAt.After(s.renewAt) || s.damaged() || s.leaf == nil || s.reissueRevoked() {
		return s.retryAt
	}
	return s.renewAt
}

// state summarizes the cert for humans and metrics.
func (s *certState) state(now time.Time, warnBefore time.Duration) string {
	switch {
	case s.renewing:
		return StateRenewing
	case s.needsToken:
		return StateNeedsToken
	case s.leaf == nil && hasKind(s.problems, pki.ProblemMissing):
		return StateMissing
	case s.leaf != nil && !now.Before(s.leaf.NotAfter()):
		return StateExpired
	case s.revoked != nil && s.revoked.Pending:
		return StateRevokePending
	case s.revokedOnDisk():
		return StateRevoked
	case s.leaf != nil && now.Before(s.leaf.NotBefore()):
		return StateNotYetValid
	case s.failures > 0 || s.crl.errText() != "":
		return StateFailed
	case len(s.problems) > 0 || s.leaf == nil:
		return StateDue
	case !now.Before(s.renewAt):
		return StateDue
	case warnBefore > 0 && s.leaf.NotAfter().Sub(now) < warnBefore:
		return StateExpiring
	}
	return StateOK
}

// damaged reports whether the files need re-issuing. Any problem does,
// except when the only one is that the cert this process last issued is
// not valid yet: the system clock is behind the CA's, and a new cert would
// be dated the same way, so re-issuing would loop against the CA.
// warnExpiry reports it instead.
func (s *certState) damaged() bool {
	if len(s.problems) == 0 {
		return false
	}
	if s.issuedSerial == "" || s.leaf.Serial() != s.issuedSerial {
		return true
	}
	for _, p := range s.problems {
		if p.Kind != pki.ProblemNotYetValid {
			return true
		}
	}
	return false
}

func hasKind(ps []pki.Problem, kind pki.ProblemKind) bool {
	for _, p := range ps {
		if p.Kind == kind {
			return true
		}
	}
	return false
}

// horizonOf is warnBefore (the config's warn_before), shortened to a third
// of leaf's lifetime: a 6-day ACME "shortlived" cert would otherwise be
// "expiring" from the moment it is issued, although the policy renews it
// with half its life left. A warning then means the renewal is overdue.
func horizonOf(warnBefore time.Duration, leaf *leafSummary) time.Duration {
	if leaf == nil {
		return warnBefore
	}
	if third := leaf.NotAfter().Sub(leaf.NotBefore()) / 3; third < warnBefore {
		return third
	}
	return warnBefore
}

// revokedOnDisk reports whether the cert on disk is the one revoked
// (revocations.go).
func (s *certState) revokedOnDisk() bool {
	return s.revoked != nil && s.leaf != nil && s.revoked.Serial == s.leaf.Serial()
}

// reissueRevoked reports whether the revoked cert on disk must be
// replaced now.
func (s *certState) reissueRevoked() bool {
	return s.revokedOnDisk() && s.revoked.Reissue
}

package agent

import (
	"crypto/x509"
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
	// StateNotYetValid is a cert whose NotBefore is ahead of the system
	// clock: peers on this host refuse it until the clock catches up.
	StateNotYetValid = "not_yet_valid"
	// StateInvalid is a watch-only pair that is unusable (mismatched,
	// unparsable); certagent does not repair what it does not manage.
	StateInvalid = "invalid"
)

// certState is what the scheduler knows about one managed cert between
// passes. It is owned by the Run goroutine (Snapshot copies it under mu).
type certState struct {
	name string
	cfg  *config.Cert

	inspected time.Time // when the files were last inspected
	leaf      *x509.Certificate
	chain     []*x509.Certificate
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

	ari     *RenewalWindow
	ariNext time.Time // when to poll ARI again

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
	// tried until tokenFile differs from tokenStamp (see token.go).
	needsToken bool
	tokenFile  string
	tokenStamp tokenStamp
}

// due reports whether the cert must be renewed at now, and why.
func (s *certState) due(now time.Time) (bool, string) {
	if s.needsToken || now.Before(s.retryAt) || now.Before(s.settleUntil) {
		return false, ""
	}
	if s.damaged() {
		return true, s.problems[0].Detail
	}
	if s.leaf == nil {
		return true, "no certificate on disk"
	}
	if !now.Before(s.renewAt) {
		return true, "renewal time reached: " + s.reason
	}
	return false, ""
}

// nextRenewal is when the scheduler will next try to renew.
func (s *certState) nextRenewal() time.Time {
	if s.needsToken {
		return time.Time{} // a token file change wakes it, not a timer
	}
	if s.retryAt.After(s.renewAt) || s.damaged() || s.leaf == nil {
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
	case s.leaf == nil && hasKind(s.problems, "missing"):
		return StateMissing
	case s.leaf != nil && !now.Before(s.leaf.NotAfter):
		return StateExpired
	case s.leaf != nil && now.Before(s.leaf.NotBefore):
		return StateNotYetValid
	case s.failures > 0:
		return StateFailed
	case len(s.problems) > 0 || s.leaf == nil:
		return StateDue
	case !now.Before(s.renewAt):
		return StateDue
	case warnBefore > 0 && s.leaf.NotAfter.Sub(now) < warnBefore:
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
	if s.issuedSerial == "" || serialHex(s.leaf) != s.issuedSerial {
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

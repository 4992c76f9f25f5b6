package acme

import (
	"errors"
	"fmt"
	"strings"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/acme/api"

	"github.com/certagent/certagent/agent"
)

// ProblemError is a failure the CA explained with an RFC 7807 problem
// document. Its message carries the problem type and detail; Unwrap gives
// lego's error.
type ProblemError struct {
	// Op says what certagent was doing, e.g. "order certificate".
	Op     string
	Type   string // e.g. urn:ietf:params:acme:error:unauthorized
	Detail string
	Status int // HTTP status
	// Sub are the subproblems, "type: detail (identifier)".
	Sub []string
	Err error
}

func (e *ProblemError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s (problem %s, HTTP %d)", e.Op, e.Detail, e.Type, e.Status)
	for _, s := range e.Sub {
		b.WriteString("; " + s)
	}
	return b.String()
}

func (e *ProblemError) Unwrap() error { return e.Err }

// mapError turns lego's errors into certagent's: rateLimited with a
// Retry-After becomes *agent.RetryAfterError (honoured exactly by the
// agent), any other problem document a *ProblemError, everything else
// is wrapped with op. Secrets never reach lego's errors (the EAB HMAC is
// only used to sign), so nothing needs redacting here.
func mapError(op string, err error) error {
	if err == nil {
		return nil
	}
	var prob *legoacme.ProblemDetails
	if !errors.As(err, &prob) {
		return fmt.Errorf("%s: %w", op, err)
	}
	pe := &ProblemError{Op: op, Type: prob.Type, Detail: prob.Detail, Status: prob.HTTPStatus, Err: err}
	for _, s := range prob.SubProblems {
		pe.Sub = append(pe.Sub, fmt.Sprintf("%s: %s (%s)", s.Type, s.Detail, s.Identifier.Value))
	}
	var rl *legoacme.RateLimitedError
	if errors.As(err, &rl) && rl.RetryAfter != "" {
		if d, perr := api.ParseRetryAfter(rl.RetryAfter); perr == nil {
			return &agent.RetryAfterError{Until: time.Now().Add(d), Err: pe}
		}
	}
	return pe
}

// accountGone reports whether err says the CA no longer knows the
// account we used, so the next attempt must register again.
func accountGone(err error) bool {
	var pe *ProblemError
	if !errors.As(err, &pe) {
		return false
	}
	return strings.HasSuffix(pe.Type, ":accountDoesNotExist") ||
		(strings.HasSuffix(pe.Type, ":unauthorized") && strings.Contains(strings.ToLower(pe.Detail), "account"))
}

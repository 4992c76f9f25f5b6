package agent

// Operator requests that reach a running daemon over its control socket
// (cmd/certagent wires agent/control to these methods). They run on the
// Run goroutine between passes, so they see and change the daemon's state
// the way its own passes do, under the same state-dir lock.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"
)

// ErrNoSuchCert is returned for a cert name the running configuration
// does not have.
var ErrNoSuchCert = errors.New("no such cert")

// request is one operator request for the Run goroutine.
type request struct {
	run  func(ctx context.Context) error
	done chan error // buffered: the Run goroutine never waits on it
}

// submit hands run to the Run goroutine and waits for its result. Once
// taken, a request completes even if ctx ends first; only the wait ends.
func (a *Agent) submit(ctx context.Context, run func(ctx context.Context) error) error {
	r := &request{run: run, done: make(chan error, 1)}
	select {
	case a.requests <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// RenewNow is `certagent renew` run by the daemon: one pass over names
// (all certs when empty) that renews the due ones, or all of them with
// force, and delivers their unit actions. As for an in-process renew,
// certagent's own backoff does not hold a cert back, a CA's Retry-After
// does (unless forced). The error lists the certs that are failing after
// the pass. Safe to call from any goroutine while Run runs.
func (a *Agent) RenewNow(ctx context.Context, names []string, force bool) error {
	return a.submit(ctx, func(ctx context.Context) error {
		for _, n := range names {
			if _, ok := a.certs[n]; !ok {
				return fmt.Errorf("%w: no cert named %q in the running configuration (known: %v)", ErrNoSuchCert, n, a.cfg.CertNames())
			}
		}
		po := passOptions{names: nameSet(names), forceAll: force, operator: true}
		a.pass(ctx, po)
		if err := ctx.Err(); err != nil {
			return err
		}
		return a.failedAmong(po.names)
	})
}

// ReloadNow is SIGHUP with an answer: the Run goroutine re-reads the
// configuration and the error says why it was rejected. Safe to call from
// any goroutine while Run runs.
func (a *Agent) ReloadNow(ctx context.Context) error {
	return a.submit(ctx, func(context.Context) error { return a.reload() })
}

func nameSet(names []string) map[string]bool {
	out := map[string]bool{}
	for _, n := range names {
		out[n] = true
	}
	return out
}

// failedAmong is the verdict of a renew: an error listing the certs among
// names (all when empty) that are failing, or whose pending revocation
// (step) the CA refused again.
func (a *Agent) failedAmong(names map[string]bool) error {
	var failed []string
	for _, r := range a.Snapshot() {
		if len(names) > 0 && !names[r.Name] {
			continue
		}
		if r.Failures > 0 {
			failed = append(failed, fmt.Sprintf("%s: %s", r.Name, r.LastError))
		} else if r.State == StateRevokePending && r.Revocation != nil && r.Revocation.Error != "" {
			failed = append(failed, fmt.Sprintf("%s: revocation of old serial %s pending: %s", r.Name, r.Revocation.Serial, r.Revocation.Error))
		}
	}
	sort.Strings(failed)
	if len(failed) > 0 {
		return fmt.Errorf("%d cert(s) failed: %v", len(failed), failed)
	}
	return nil
}

// dueForOperator is due() for an operator's renew: certagent's own backoff
// does not hold the cert back ("renew" is how an operator says "try now")
// and a failing cert is retried; a CA's Retry-After and a settling outside
// write still do.
func (s *certState) dueForOperator(now time.Time) (bool, string) {
	if now.Before(s.caRetryAt) || now.Before(s.settleUntil) {
		return false, ""
	}
	c := *s
	c.retryAt = time.Time{}
	if ok, why := c.due(now); ok {
		return true, why
	}
	if s.failures > 0 {
		return true, "retrying the last failure on request"
	}
	return false, ""
}

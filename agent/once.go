package agent

import (
	"context"
	"fmt"
)

// RenewOnce is `certagent renew`: it recovers the state dir, renews the
// due certs among names (all when empty) — or all of them with force —
// delivers the resulting unit actions and returns. The error lists the
// certs that failed. It shares the state dir lock with a running daemon.
func (a *Agent) RenewOnce(ctx context.Context, names []string, force bool) error {
	for _, n := range names {
		if _, ok := a.certs[n]; !ok {
			return fmt.Errorf("no cert named %q in the configuration", n)
		}
	}
	if err := a.recover(ctx); err != nil {
		return err
	}
	a.keepCARetries()
	po := passOptions{names: nameSet(names), forceAll: force}
	a.pass(ctx, po)
	if err := ctx.Err(); err != nil {
		return err
	}
	return a.failedAmong(po.names)
}

// keepCARetries carries over the failures for which a CA named a retry
// time still ahead: a one-shot renew (a timer, cron, an operator) must
// not hit a CA that rate-limited us, whether the daemon or an earlier
// renew recorded it; no local fix lifts that limit. certagent's own
// backoff is not carried: renew is how an operator says "try now".
// --force still tries.
func (a *Agent) keepCARetries() {
	a.loadSeed()
	now := a.clock.Now()
	for name, r := range a.seed {
		if !r.RetryAfter.After(now) {
			delete(a.seed, name)
		}
	}
}

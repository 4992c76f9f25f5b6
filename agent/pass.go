package agent

import (
	"context"
	"crypto/x509"
	"sort"
	"sync"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// passOptions select what one pass does beyond the schedule.
type passOptions struct {
	// dirty names the certs (and watch-only pairs, by watch key) whose
	// files the watcher saw change since the last pass: they are
	// re-inspected now, whatever their inspection schedule.
	dirty map[string]bool
	// force renews these certs even when they are not due.
	force map[string]bool
	// forceAll renews every cert.
	forceAll bool
	// names restricts the pass to these certs (renew NAME...); empty = all.
	names map[string]bool
	// operator: an operator's renew sent to the daemon (dueForOperator).
	operator bool
	// crlIssuers re-fetch the CRL of these issuers' certs now (a revoke).
	crlIssuers map[string]bool
}

// pass inspects the certs that need it, renews the due ones, delivers
// pending unit actions and publishes the status. It returns when the next
// pass should run. The state dir lock is held throughout, so a one-shot
// `certagent renew` and the daemon never interleave writes.
func (a *Agent) pass(ctx context.Context, po passOptions) time.Time {
	release, err := a.store.Lock(ctx)
	if err != nil {
		if ctx.Err() == nil {
			a.log.Error("cannot lock the state dir; retrying in a minute", "error", err)
		}
		return a.clock.Now().Add(time.Minute)
	}
	defer release()
	a.loadSpreadSeed()
	a.adoptForeignStatus()

	now := a.clock.Now()
	a.driveRotations(ctx, now)
	roots := a.issuerRoots(ctx)
	var due []*certState
	for _, st := range a.sortedCerts() {
		a.beat() // ARI polls and inspections of many certs take time
		if len(po.names) > 0 && !po.names[st.name] {
			continue
		}
		if po.forceAll || po.force[st.name] || po.dirty[st.name] || a.needsInspect(st, now) {
			healthy := !st.inspected.IsZero() && st.leaf != nil && len(st.problems) == 0
			a.inspect(st, rootsFor(st, roots), now)
			a.judgeDamage(st, po.dirty[st.name], healthy, now)
		}
		a.checkToken(st)
		a.pollARI(ctx, st, now)
		if st.leaf != nil {
			a.warnExpiry("cert", st.name, st.leaf, &st.lastWarn, st.cfg.CertFile, now)
		}
		a.fixPerms(st)
		// A revoke by a one-shot process beside this daemon shows at once.
		st.revoked = readRevocation(a.cfg.Agent.StateDir, st.name)
		ok, why := st.due(now)
		if !ok && po.operator {
			ok, why = st.dueForOperator(now)
		}
		if !ok && !st.needsToken && !now.Before(st.retryAt) {
			if stale := a.staleCAFile(st); stale != "" {
				ok, why = true, stale
			}
		}
		if ok || po.forceAll || po.force[st.name] {
			if !ok {
				why = "forced"
			}
			a.log.Info("renewal due", "cert", st.name, "reason", why)
			due = append(due, st)
		}
	}
	a.passWatches(ctx, po, now)
	a.issueAll(ctx, due, roots)
	a.retryRevocations(ctx, po)
	a.syncCRLs(ctx, po.crlIssuers, roots)
	a.deliver(ctx)
	a.publish()
	a.metrics().PassCompleted(a.clock.Now())
	return a.nextWake()
}

func (a *Agent) sortedCerts() []*certState {
	out := make([]*certState, 0, len(a.certs))
	for _, st := range a.certs {
		out = append(out, st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// needsInspect: files are re-read when never read, when the backstop
// interval elapsed, or when the cert may be due. Otherwise the cached view
// stands; the watcher tells us about changes in between.
func (a *Agent) needsInspect(st *certState, now time.Time) bool {
	// An inspection "in the future" means the clock went back: the
	// check_interval backstop would otherwise wait out the step as well.
	if st.inspected.IsZero() || st.inspected.After(now) || st.leaf == nil || len(st.problems) > 0 {
		return true
	}
	if iv := a.cfg.Agent.CheckInterval.Duration; iv > 0 && !now.Before(st.inspected.Add(iv)) {
		return true
	}
	return !now.Before(st.nextRenewal()) || (!st.settleUntil.IsZero() && !now.Before(st.settleUntil))
}

// issuerRoots asks each issuer for its trust anchors; an issuer that
// cannot say is skipped (its certs are then not checked for issuer).
func (a *Agent) issuerRoots(ctx context.Context) map[string][]*x509.Certificate {
	out := map[string][]*x509.Certificate{}
	for name, iss := range a.issuers {
		rs, err := iss.Roots(ctx)
		if err != nil {
			a.log.Warn("cannot read issuer roots", "issuer", name, "error", err)
			continue
		}
		out[name] = rs
	}
	return out
}

// inspect reads the cert's files, applies what another process recorded
// for the cert on disk, and re-plans its renewal time.
func (a *Agent) inspect(st *certState, roots []*x509.Certificate, now time.Time) {
	a.takeIn(st, observeCert(a.cfg, st.cfg, roots, now), now)
}

// takeIn is inspect with the files already read (o).
func (a *Agent) takeIn(st *certState, o observation, now time.Time) {
	st.observe(o, now)
	a.applySeed(st, now)
	a.clearMootFailure(st)
	st.plan(a.policy(st))
	if st.leaf != nil {
		a.rotationRenewAt(st)
	}
}

// SettleTime is how long files broken by an outside writer are given to
// become whole (a tool writing key and cert in two steps) before certagent
// judges them.
const SettleTime = time.Second

// judgeDamage decides what to make of problems found by an inspection.
// After a file event, the first sighting arms the settle timer; problems
// that outlive it are reported, and the pass then re-issues as for a
// renewal. Without an event, damage to files that were whole at the last
// inspection was missed by the watcher (a network file system, a lost
// inotify event) and found by the check_interval backstop: it is reported
// at once. Anything else (a first inspection, expiry, a changed config or
// issuer) is a reason to renew, not an outside change.
func (a *Agent) judgeDamage(st *certState, event, wasHealthy bool, now time.Time) {
	switch {
	case len(st.problems) == 0:
		st.settleUntil = time.Time{}
	case event && st.settleUntil.IsZero():
		st.settleUntil = now.Add(SettleTime)
	case !st.settleUntil.IsZero() && !now.Before(st.settleUntil):
		st.settleUntil = time.Time{}
		a.reportDamage(st)
	case !event && wasHealthy && fileDamaged(st.problems):
		a.reportDamage(st)
	}
}

// fileDamaged reports whether problems include damage to the files
// themselves, as opposed to time or policy.
func fileDamaged(ps []pki.Problem) bool {
	for _, p := range ps {
		switch p.Kind {
		case pki.ProblemMissing, pki.ProblemUnreadable, pki.ProblemUnparsable, pki.ProblemMismatch, pki.ProblemChainOrder:
			return true
		}
	}
	return false
}

// reportDamage logs what an outside change broke.
func (a *Agent) reportDamage(st *certState) {
	p := st.problems[0]
	a.log.Warn("modified outside certagent", "event", "external_change", "cert", st.name,
		"problem", p.Detail, "kind", string(p.Kind), "file", p.File, "problems", len(st.problems))
	a.metrics().ExternalChange(st.name, changeKind(p.Kind))
}

// changeKind maps an inspection problem to the few documented values of
// the external-change metric's kind label (docs/metrics.md), which must
// not grow with every problem pki can name.
func changeKind(k pki.ProblemKind) string {
	switch k {
	case pki.ProblemMissing:
		return ChangeDeleted
	case pki.ProblemIssuer:
		return ChangeReplaced
	}
	return ChangeModified
}

func (a *Agent) policy(st *certState) Policy {
	return Policy{Name: st.name, Seed: a.spreadSeed, Before: st.cfg.RenewBeforeDuration, Fraction: st.cfg.RenewBeforeFraction}
}

// nextWake is the earliest time any cert needs attention.
func (a *Agent) nextWake() time.Time {
	now := a.clock.Now()
	next := now.Add(MaxSleep)
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(next) {
			next = t
		}
	}
	for _, st := range a.certs {
		earlier(st.nextRenewal())
		if iv := a.cfg.Agent.CheckInterval.Duration; iv > 0 {
			earlier(st.inspected.Add(iv))
		}
		earlier(st.ariNext)
		earlier(st.settleUntil)
		earlier(st.crlNext)
		if st.revoked != nil && st.revoked.Pending {
			earlier(st.revokeRetryAt)
		}
		if st.leaf != nil && !st.lastWarn.IsZero() && a.inWarnWindow(st.leaf, now) {
			earlier(st.lastWarn.Add(24 * time.Hour))
		}
	}
	earlier(a.pendingRetry)
	earlier(a.rotationWake())
	for _, ws := range a.watches {
		earlier(ws.settleUntil)
		if iv := a.cfg.Agent.CheckInterval.Duration; iv > 0 {
			earlier(ws.inspected.Add(iv))
		}
		if ws.leaf != nil && !ws.lastWarn.IsZero() && a.inWarnWindow(ws.leaf, now) {
			earlier(ws.lastWarn.Add(24 * time.Hour))
		}
	}
	return next
}

// run calls fn for each item with at most limit(item) in flight per key,
// waiting while proving liveness to the watchdog.
func (a *Agent) fanOut(ctx context.Context, items []*certState, key func(*certState) (string, int), fn func(*certState)) {
	sems := map[string]chan struct{}{}
	var wg sync.WaitGroup
	for _, st := range items {
		k, n := key(st)
		if n < 1 {
			n = 1
		}
		if sems[k] == nil {
			sems[k] = make(chan struct{}, n)
		}
		wg.Add(1)
		go func(st *certState, sem chan struct{}) {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			fn(st)
		}(st, sems[k])
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			a.beat()
		}
	}
}

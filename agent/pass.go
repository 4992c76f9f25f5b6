package agent

import (
	"context"
	"crypto/x509"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
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
	walk := safefile.NewWalker() // directory walks shared by this pass's inspections
	defer walk.Close()
	sorted := a.sortedCerts()
	todo, want := a.toInspect(sorted, po, now)
	inspected := a.inspectAll(ctx, todo, roots, walk, now)
	var due []*certState
	for _, st := range sorted {
		a.beat() // ARI polls of many certs take time
		if len(po.names) > 0 && !po.names[st.name] {
			continue
		}
		if want[st] {
			a.takeInspection(st, inspected, po.dirty[st.name], rootsFor(st, roots), now)
		}
		a.checkToken(st)
		a.pollARI(ctx, st, now)
		if st.leaf != nil {
			a.warnExpiry("cert", st.name, st.leaf, &st.lastWarn, st.cfg.CertFile, now)
		}
		a.fixPerms(st)
		// A revoke by a one-shot process beside this daemon shows at once
		// (an inspection just read it).
		if _, ok := inspected[st]; !ok {
			st.revoked = readRevocationVia(walk, a.cfg.Agent.StateDir, st.name)
		}
		if ok, why := a.passDue(st, po, now); ok {
			a.log.Info("renewal due", "cert", st.name, "reason", why)
			due = append(due, st)
		}
	}
	walk.Close() // directory handles live no longer than the inspections
	a.passWatches(ctx, po, now)
	a.issueAll(ctx, due, roots)
	a.retryRevocations(ctx, po)
	a.syncCRLs(ctx, po.crlIssuers, roots)
	a.deliver(ctx)
	a.saveInspectCache()
	a.publish()
	a.metrics().PassCompleted(a.clock.Now())
	return a.nextWake()
}

// passDue reports whether the pass renews st, and why.
func (a *Agent) passDue(st *certState, po passOptions, now time.Time) (bool, string) {
	ok, why := st.due(now)
	if !ok && po.operator {
		ok, why = st.dueForOperator(now)
	}
	if !ok && !st.needsToken && !now.Before(st.retryAt) {
		if stale := a.staleCAFile(st); stale != "" {
			ok, why = true, stale
		}
	}
	if !ok && (po.forceAll || po.force[st.name]) {
		ok, why = true, "forced"
	}
	return ok, why
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
	a.observed(st, observeCert(a.cfg, st.cfg, roots, now), now)
}

// observed applies one reading of st's files (inspect, absorb).
func (a *Agent) observed(st *certState, o observation, now time.Time) {
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
		earlier(st.ari.nextPoll())
		earlier(st.settleUntil)
		earlier(st.crl.nextFetch())
		if st.revoked != nil && st.revoked.Pending {
			earlier(st.revokeRetry.retryAt())
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

// fanOut calls fn for each item with at most limit(item) in flight per
// key, waiting while proving liveness to the watchdog. Each key gets at
// most that many workers taking its items in order, not a goroutine per
// item: the runtime keeps every goroutine descriptor it ever made, which
// at 10,000 certs was half a kilobyte of heap per cert for good.
func (a *Agent) fanOut(ctx context.Context, items []*certState, key func(*certState) (string, int), fn func(*certState)) {
	type queue struct {
		limit int
		items []*certState
		next  atomic.Int64
	}
	queues := map[string]*queue{}
	var order []*queue
	for _, st := range items {
		k, n := key(st)
		q := queues[k]
		if q == nil {
			q = &queue{limit: max(n, 1)}
			queues[k] = q
			order = append(order, q)
		}
		q.items = append(q.items, st)
	}
	var wg sync.WaitGroup
	for _, q := range order {
		for range min(q.limit, len(q.items)) {
			wg.Go(func() {
				for ctx.Err() == nil {
					i := q.next.Add(1) - 1
					if i >= int64(len(q.items)) {
						return
					}
					fn(q.items[i])
				}
			})
		}
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

package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/safefile"
)

// issueTimeout bounds one issuance so a stuck CA cannot wedge the pass.
const issueTimeout = 10 * time.Minute

// outcome is what one issuance produced; the Run goroutine applies it.
type outcome struct {
	st *certState
	// leaf summarizes the new cert: the outcomes of a pass wait for its
	// last commit, and 10,000 parsed certs held 25 MB of heap till then.
	leaf    *leafSummary
	changed []string
	// obs is the reading of the files just committed (groupCommit), or
	// nil: applyOutcome then reads them.
	obs *observation
	err error
	// cancelled: the order failed because the daemon is shutting down,
	// which says nothing about the CA or the cert.
	cancelled bool
}

// issueAll renews the due certs concurrently, at most max_concurrent per
// issuer, then applies the outcomes on the calling goroutine.
func (a *Agent) issueAll(ctx context.Context, due []*certState, roots map[string][]*x509.Certificate) {
	if len(due) == 0 {
		return
	}
	a.setRenewing(due, true)
	a.rootsKept = nil // read issuer-roots/ again once this pass (recordIssuer)
	// The committed files are observed on the group commit's goroutines
	// (see groupCommit and observeCommitted). a.cfg and each st.cfg stay
	// as they are until this pass returns.
	walk := safefile.NewWalker() // the revocation records' directory, walked once
	gc := startGroupCommit(a.store, func(st *certState, files []store.File, v *pki.Vouched) observation {
		return observeCommitted(a.cfg, st.cfg, files, rootsFor(st, roots), v, walk, a.clock.Now())
	})
	a.fanOut(ctx, due, a.issuerLimit, func(st *certState) {
		b, files, err := a.issueOne(ctx, st)
		// Whatever error an order cut short by shutdown returns (lego's
		// own wording, a wrapped signal cause), it is not the CA's.
		gc.add(st, b, files, err, err != nil && ctx.Err() != nil)
	})
	outs := gc.wait(a.beat)
	walk.Close()
	a.setRenewing(due, false)
	now := a.clock.Now()
	for _, o := range outs {
		a.applyOutcome(o, rootsFor(o.st, roots), now)
	}
	a.afterFailures(ctx, outs) // on_failure and renewal_failed (stagehooks.go)
}

// setRenewing marks certs as being renewed (or no longer) and shares
// that at once: a renewal can take minutes, and Snapshot should say so.
func (a *Agent) setRenewing(sts []*certState, on bool) {
	for _, st := range sts {
		st.renewing = on
	}
	a.share(a.rows(a.clock.Now()))
}

// issuerLimit is how many orders st's issuer may run at once: its
// max_concurrent (ACME; agent/config fills the default), or for a local
// CA, which has no such key, the same default bound.
func (a *Agent) issuerLimit(st *certState) (string, int) {
	n := config.DefaultMaxConcurrent
	if ic := a.cfg.Issuers[st.cfg.Issuer]; ic != nil && ic.MaxConcurrent > 0 {
		n = ic.MaxConcurrent
	}
	return st.cfg.Issuer, n
}

// issueOne obtains a new cert in a fresh staging dir and returns the
// files to commit (the group commit writes them with the certs finished
// meanwhile). It must not touch st beyond reading its config and leaf.
func (a *Agent) issueOne(ctx context.Context, st *certState) (*Bundle, []store.File, error) {
	c := st.cfg
	var dir string
	if a.needsStaging(c) {
		d, cleanup, err := a.store.Staging(st.name)
		if err != nil {
			return nil, nil, fmt.Errorf("staging: %w", err)
		}
		defer cleanup()
		dir = d
	}
	var current *x509.Certificate
	if st.leaf != nil {
		current, _, _ = rereadLeaf(st) // changed since inspected: renew as without one
	}
	req := requestFor(c, dir, current)
	req.CurrentKey = a.currentKey(st, current)
	a.applyReuse(st, &req)              // reusekey.go
	b, err := a.issueFrom(ctx, st, req) // fallback.go: the issuer list in order
	if err != nil {
		return nil, nil, err
	}
	if b == nil || b.Leaf == nil || b.Key == nil {
		return nil, nil, errors.New("issuer returned no certificate")
	}
	if !pki.KeyMatches(b.Leaf, b.Key) {
		return nil, nil, errors.New("issuer returned a certificate that does not match its key")
	}
	a.recordIssuer(st, b) // fallback_record.go
	files, err := outputFiles(c, b)
	if err != nil {
		return nil, nil, err
	}
	if err := a.preExec(ctx, st, dir, b, files); err != nil {
		return nil, nil, err
	}
	return b, files, nil
}

// needsStaging reports whether an issuance of c needs a staging dir: a
// pre_exec hook reads the new pair there, and every issuer of its list
// that is not StagingFree writes its scratch files there.
func (a *Agent) needsStaging(c *config.Cert) bool {
	if len(c.PreExec) > 0 {
		return true
	}
	for _, name := range append([]string{c.Issuer}, c.IssuerList...) {
		if _, free := a.issuers[name].(StagingFree); !free {
			return true
		}
	}
	return false
}

func requestFor(c *config.Cert, staging string, current *x509.Certificate) Request {
	return Request{
		Name:        c.Name,
		CommonName:  c.CommonName,
		DNSNames:    append([]string(nil), c.DNSNames...),
		IPAddresses: append([]net.IP(nil), c.IPs...),
		ServerAuth:  c.ServerAuth(),
		ClientAuth:  c.ClientAuth(),
		KeyType:     KeyType(c.KeyType),
		Validity:    c.Validity.Duration,
		StagingDir:  staging,
		Current:     current,
		ReuseKey:    c.ReuseKey,
	}
}

// intentsFor lists the durable follow-ups of a change to c's files:
// one unit action per unit, then its hook.
func intentsFor(c *config.Cert) []store.Intent {
	var out []store.Intent
	for _, u := range c.Units {
		out = append(out, store.Intent{Unit: u, Action: c.Action, Cert: c.Name})
	}
	if len(c.Exec) > 0 {
		out = append(out, store.Intent{Action: actionExec, Cert: c.Name})
	}
	return out
}

// applyOutcome updates the scheduler's view after an issuance.
func (a *Agent) applyOutcome(o outcome, roots []*x509.Certificate, now time.Time) {
	st := o.st
	log := a.log.With("cert", st.name, "issuer", st.cfg.Issuer)
	if o.cancelled {
		// Not a failure: no backoff, no failure count, no error line.
		// The next start renews the cert, still due, at once.
		log.Info("renewal cancelled by shutdown; old files left in place", "event", "renewal_cancelled")
		return
	}
	if o.err != nil {
		st.recordFailure(o.err.Error())
		st.caRetryAt = time.Time{} // set again below if the CA named a time
		if a.noteNeedsToken(st, o.err) {
			a.countRenewal(st.name, "failure")
			return
		}
		if until, ok := RetryAfter(o.err); ok && until.After(now) {
			st.retryAt, st.caRetryAt = until, until
		} else {
			st.retryAt = now.Add(a.backoff(st, now))
		}
		log.Error("renewal failed; old files left in place", "event", "renew_failed", "error", o.err,
			"failures", st.failures, "retry_at", stamp(st.retryAt))
		a.countRenewal(st.name, "failure")
		return
	}
	event := "renewed"
	if st.leaf == nil {
		event = "issued"
	}
	st.recordSuccess(o.leaf, now)
	if o.obs != nil {
		a.observed(st, *o.obs, now)
	} else {
		a.inspect(st, roots, now)
	}
	log.Info("certificate "+event, "event", event, "serial", o.leaf.Serial(), "not_after", stamp(o.leaf.NotAfter()),
		"next_renewal", stamp(st.renewAt), "files_changed", len(o.changed))
	a.countRenewal(st.name, "success")
}

func (a *Agent) countRenewal(cert, result string) {
	a.metrics().Renewal(cert, result)
}

// pollARI refreshes the ACME Renewal Information window when it is time,
// falling back to the lifetime policy when the CA has none or errors.
func (a *Agent) pollARI(ctx context.Context, st *certState, now time.Time) {
	ri, ok := a.issuers[a.ariIssuer(st)].(RenewalInfoer)
	ic := a.cfg.Issuers[a.ariIssuer(st)]
	if !ok || st.leaf == nil || (ic != nil && ic.ARI != nil && !*ic.ARI) || now.Before(st.ari.nextPoll()) {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	leaf, chain, err := rereadLeaf(st) // the ARI cert ID needs the whole cert
	var win *RenewalWindow
	if err == nil {
		var parent *x509.Certificate
		if len(chain) > 0 {
			parent = chain[0]
		}
		win, err = ri.RenewalInfo(cctx, leaf, parent)
	}
	log := a.log.With("cert", st.name, "issuer", st.cfg.Issuer)
	if err != nil {
		st.ari = &ariState{next: now.Add(time.Hour)}
		log.Warn("renewal information unavailable; using the lifetime policy", "error", err)
	} else {
		st.ari = &ariState{window: win, next: now.Add(12 * time.Hour)}
		if win != nil && win.RetryAfter.After(now) && win.RetryAfter.Before(st.ari.next) {
			st.ari.next = win.RetryAfter
		}
	}
	at, reason := RenewAt(a.policy(st), st.leaf.NotBefore(), st.leaf.NotAfter(), st.ari.renewalWindow())
	if !at.Equal(st.renewAt) {
		log.Info("renewal time chosen", "renew_at", stamp(at), "reason", reason)
	}
	st.renewAt, st.reason = at, reason
}

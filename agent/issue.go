package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/failpoint"
)

// issueTimeout bounds one issuance so a stuck CA cannot wedge the pass.
const issueTimeout = 10 * time.Minute

// outcome is what one issuance produced; the Run goroutine applies it.
type outcome struct {
	st      *certState
	leaf    *x509.Certificate
	changed []string
	err     error
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
	var mu sync.Mutex // guards outs
	var outs []outcome
	a.setRenewing(due, true)
	a.fanOut(ctx, due, a.issuerLimit, func(st *certState) {
		leaf, changed, err := a.issueOne(ctx, st)
		mu.Lock()
		// Whatever error an order cut short by shutdown returns (lego's
		// own wording, a wrapped signal cause), it is not the CA's.
		cancelled := err != nil && ctx.Err() != nil
		outs = append(outs, outcome{st: st, leaf: leaf, changed: changed, err: err, cancelled: cancelled})
		mu.Unlock()
	})
	a.setRenewing(due, false)
	now := a.clock.Now()
	for _, o := range outs {
		a.applyOutcome(o, roots[o.st.cfg.Issuer], now)
	}
}

func (a *Agent) setRenewing(sts []*certState, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, st := range sts {
		st.renewing = on
	}
}

func (a *Agent) issuerLimit(st *certState) (string, int) {
	n := 4
	if ic := a.cfg.Issuers[st.cfg.Issuer]; ic != nil && ic.MaxConcurrent > 0 {
		n = ic.MaxConcurrent
	}
	return st.cfg.Issuer, n
}

// issueOne obtains a new cert in a fresh staging dir and commits it. It
// must not touch st beyond reading its config and current leaf.
// Commits of different certs run concurrently: the store journals per
// cert and serializes commits of the same cert itself.
func (a *Agent) issueOne(ctx context.Context, st *certState) (*x509.Certificate, []string, error) {
	c := st.cfg
	iss := a.issuers[c.Issuer]
	if iss == nil {
		return nil, nil, fmt.Errorf("issuer %q is not available", c.Issuer)
	}
	dir, cleanup, err := a.store.Staging(st.name)
	if err != nil {
		return nil, nil, fmt.Errorf("staging: %w", err)
	}
	defer cleanup()
	ctx, cancel := context.WithTimeout(ctx, issueTimeout)
	defer cancel()
	req := requestFor(c, dir, st.leaf)
	req.CurrentKey = a.currentKey(st)
	b, err := iss.Issue(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	if b == nil || b.Leaf == nil || b.Key == nil {
		return nil, nil, errors.New("issuer returned no certificate")
	}
	if !pki.KeyMatches(b.Leaf, b.Key) {
		return nil, nil, errors.New("issuer returned a certificate that does not match its key")
	}
	files, err := outputFiles(c, b)
	if err != nil {
		return nil, nil, err
	}
	// The watcher is not muted here: muting would hide an outside change
	// made just after this write. The event our own rename causes costs
	// one inspection that finds the files as they should be.
	res, err := a.store.Commit(st.name, files, intentsFor(c))
	if err != nil {
		return nil, nil, fmt.Errorf("write: %w", err)
	}
	failpoint.Hit("agent-after-commit")
	return b.Leaf, res.Changed, nil
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
		st.failures++
		st.lastErr = o.err.Error()
		st.failedSerial = serialHex(st.leaf)
		st.caRetryAt = time.Time{}
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
	st.failures, st.retryAt, st.caRetryAt, st.lastErr = 0, time.Time{}, time.Time{}, ""
	st.needsToken = false
	st.ari, st.ariNext = nil, time.Time{}
	st.issuedAt, st.issuedSerial = now, serialHex(o.leaf)
	a.inspect(st, roots, now)
	log.Info("certificate "+event, "event", event, "serial", serialHex(o.leaf), "not_after", stamp(o.leaf.NotAfter),
		"next_renewal", stamp(st.renewAt), "files_changed", len(o.changed))
	a.countRenewal(st.name, "success")
}

func (a *Agent) countRenewal(cert, result string) {
	if m := a.opts.Metrics; m != nil {
		m.Renewal(cert, result)
	}
}

func serialHex(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}

// pollARI refreshes the ACME Renewal Information window when it is time,
// falling back to the lifetime policy when the CA has none or errors.
func (a *Agent) pollARI(ctx context.Context, st *certState, now time.Time) {
	ri, ok := a.issuers[st.cfg.Issuer].(RenewalInfoer)
	ic := a.cfg.Issuers[st.cfg.Issuer]
	if !ok || st.leaf == nil || (ic != nil && ic.ARI != nil && !*ic.ARI) || now.Before(st.ariNext) {
		return
	}
	var parent *x509.Certificate
	if len(st.chain) > 0 {
		parent = st.chain[0]
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	win, err := ri.RenewalInfo(cctx, st.leaf, parent)
	log := a.log.With("cert", st.name, "issuer", st.cfg.Issuer)
	if err != nil {
		st.ari, st.ariNext = nil, now.Add(time.Hour)
		log.Warn("renewal information unavailable; using the lifetime policy", "error", err)
	} else {
		st.ari = win
		st.ariNext = now.Add(12 * time.Hour)
		if win != nil && win.RetryAfter.After(now) && win.RetryAfter.Before(st.ariNext) {
			st.ariNext = win.RetryAfter
		}
	}
	at, reason := RenewAt(a.policy(st), st.leaf.NotBefore, st.leaf.NotAfter, st.ari)
	if !at.Equal(st.renewAt) {
		log.Info("renewal time chosen", "renew_at", stamp(at), "reason", reason)
	}
	st.renewAt, st.reason = at, reason
}

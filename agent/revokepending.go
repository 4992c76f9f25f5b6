package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
)

// revokeAfterReissue is RevokeOnce for a ReissueFirstRevoker (step-ca):
// the revoked pair is what proves the host to the CA, so the new pair
// comes first. The pending record is written before anything else: a
// crash after it still replaces the pair (the record names the serial on
// disk, so the next pass re-issues) and then revokes the old serial. One
// pass re-issues, deploys, revokes the old serial with the old key from
// the store's previous set (retryRevocations) and refreshes the CRLs.
func (a *Agent) revokeAfterReissue(ctx context.Context, st *certState, opts RevokeOptions) error {
	serial, prior, err := a.markPending(ctx, st, opts)
	if err != nil {
		return err
	}
	// Not forced: the record makes the old serial due (even past a
	// backoff, as for an operator's renew), and a pass of a daemon beside
	// a --local revoke that replaced it already must not be followed by a
	// second replacement, whose commit would push the old key out of the
	// previous set.
	a.pass(ctx, passOptions{names: map[string]bool{st.name: true}, operator: true,
		crlIssuers: map[string]bool{st.cfg.Issuer: true}})
	if err := ctx.Err(); err != nil {
		return err
	}
	if st.leaf == nil || st.leaf.Serial() == serial {
		// No replacement: nothing was revoked, and nothing is left pending.
		a.unmarkPending(ctx, st, serial, prior)
		a.countRevocation(st.name, opts.Reason, "failure")
		return fmt.Errorf("%s: the replacement failed, so serial %s was not revoked (step-ca accepts the revocation only from the old pair, which could then not renew): %s",
			st.name, serial, st.lastErr)
	}
	if r := st.revoked; r != nil && r.Pending {
		return fmt.Errorf("%s: the new pair is deployed, but the revocation of serial %s is pending and will be retried (state revoke_pending): %s",
			st.name, serial, st.revokeRetry.errText())
	}
	if st.crl.errText() != "" {
		return fmt.Errorf("%s was revoked, but %s", st.name, st.crl.errText())
	}
	return nil
}

// markPending writes the pending record under the state dir lock and
// returns the serial it names and the record it replaced.
func (a *Agent) markPending(ctx context.Context, st *certState, opts RevokeOptions) (string, *revocationRecord, error) {
	release, err := a.store.Lock(ctx)
	if err != nil {
		return "", nil, fmt.Errorf("lock state dir: %w", err)
	}
	defer release()
	roots := a.issuerRoots(ctx)
	a.inspect(st, roots[st.cfg.Issuer], a.clock.Now())
	if st.leaf == nil {
		return "", nil, fmt.Errorf("%s: no certificate on disk to revoke (%s)", st.name, st.cfg.CertFile)
	}
	leaf, _, err := rereadLeaf(st)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", st.name, err)
	}
	prior := st.revoked
	serial := serialHex(leaf)
	rec := revocationRecord{Serial: serial, Reason: opts.Reason.String(), RevokedAt: a.clock.Now().UTC(),
		Reissue: true, Pending: true, Cert: leaf.Raw}
	if err := writeRevocation(a.cfg.Agent.StateDir, st.name, rec); err != nil {
		return "", nil, fmt.Errorf("record the revocation of %s: %w", st.name, err)
	}
	st.revoked = &rec
	st.revokeRetry = nil
	a.log.Info("revocation pending: replacing the pair first", "event", "revoke_pending", "cert", st.name,
		"issuer", st.cfg.Issuer, "serial", serial, "reason", rec.Reason)
	return serial, prior, nil
}

// unmarkPending puts back the record markPending replaced, when the
// pending one still names serial.
func (a *Agent) unmarkPending(ctx context.Context, st *certState, serial string, prior *revocationRecord) {
	release, err := a.store.Lock(ctx)
	if err != nil {
		return
	}
	defer release()
	cur := readRevocation(a.cfg.Agent.StateDir, st.name)
	if cur == nil || !cur.Pending || cur.Serial != serial {
		return
	}
	if prior == nil {
		err = removeRevocation(a.cfg.Agent.StateDir, st.name)
	} else {
		err = writeRevocation(a.cfg.Agent.StateDir, st.name, *prior)
	}
	if err != nil {
		a.log.Error("cannot withdraw the pending revocation; the next pass replaces the pair and revokes it", "cert", st.name, "error", err)
		return
	}
	st.revoked = prior
}

// revokeRetry is the failed attempts at a cert's pending revocation: how
// many, the last error and when to try again. Few certs ever have one, so
// certState keeps it behind a pointer.
type revokeRetry struct {
	err      string
	failures int
	at       time.Time
}

// errText is the last attempt's error; "" for no failed attempt (nil).
func (r *revokeRetry) errText() string {
	if r == nil {
		return ""
	}
	return r.err
}

// retryAt is when to try again; zero for no failed attempt (nil).
func (r *revokeRetry) retryAt() time.Time {
	if r == nil {
		return time.Time{}
	}
	return r.at
}

// retryRevocations revokes the old serial of every cert whose record is
// pending and whose replacement is on disk, unless a failed attempt's
// retry time is ahead (an operator's renew or revoke, or force, ignores
// it). Called by pass under the state dir lock, after issuance.
func (a *Agent) retryRevocations(ctx context.Context, po passOptions) {
	now := a.clock.Now()
	for _, st := range a.sortedCerts() {
		r := st.revoked
		if r == nil || !r.Pending || st.revokedOnDisk() || (len(po.names) > 0 && !po.names[st.name]) {
			continue
		}
		if !po.operator && !po.forceAll && !po.force[st.name] && now.Before(st.revokeRetry.retryAt()) {
			continue
		}
		a.revokePending(ctx, st, now)
	}
}

// revokePending makes one attempt at st's pending revocation.
func (a *Agent) revokePending(ctx context.Context, st *certState, now time.Time) {
	r := st.revoked
	reason, _ := ParseReason(r.Reason)
	log := a.log.With("cert", st.name, "issuer", st.cfg.Issuer, "serial", r.Serial, "reason", r.Reason)
	err := a.revokeOld(ctx, st, r, reason)
	if err != nil {
		rr := st.revokeRetry
		if rr == nil {
			rr = &revokeRetry{}
			st.revokeRetry = rr
		}
		rr.failures++
		rr.err = err.Error()
		rr.at = now.Add(Backoff(a.policy(st), rr.failures, now, time.Time{}))
		log.Error("cannot revoke the replaced certificate yet; the new pair stays, retrying", "event", "revoke_failed",
			"error", err, "failures", rr.failures, "retry_at", stamp(rr.at))
		a.countRevocation(st.name, reason, "failure")
		return
	}
	done := *r
	done.Pending, done.Cert = false, nil
	if err := writeRevocation(a.cfg.Agent.StateDir, st.name, done); err != nil {
		log.Error("revoked, but the record could not be updated", "event", "revoked", "error", err)
	}
	st.revoked = &done
	st.revokeRetry = nil
	log.Info("certificate revoked", "event", "revoked", "replaced", true)
	a.countRevocation(st.name, reason, "success")
}

// revokeOld asks the issuer to revoke the record's cert, with the old key
// from the store's previous set.
func (a *Agent) revokeOld(ctx context.Context, st *certState, r *revocationRecord, reason RevocationReason) error {
	rv, ok := a.issuers[st.cfg.Issuer].(Revoker)
	if !ok {
		return fmt.Errorf("issuer %q cannot revoke certificates", st.cfg.Issuer)
	}
	old, err := x509.ParseCertificate(r.Cert)
	if err != nil || serialHex(old) != r.Serial {
		return fmt.Errorf("the pending record holds no certificate with serial %s", r.Serial)
	}
	key, err := a.previousKey(st, old)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	return rv.Revoke(rctx, RevokeRequest{Name: st.name, Cert: old, Reason: reason, Key: key})
}

// previousKey finds old's key: in the files the replacement overwrote (the
// store's previous set), else in key_file (reuse_key kept it).
func (a *Agent) previousKey(st *certState, old *x509.Certificate) (crypto.Signer, error) {
	var pw []byte
	if st.cfg.KeyPassword().IsSet() {
		var err error
		if pw, err = readPassword(st.cfg, st.cfg.KeyPassword(), "key"); err != nil {
			return nil, err
		}
	}
	files, err := a.store.Previous(st.name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, f := range files {
		if filepath.Clean(f.Path) != filepath.Clean(st.cfg.KeyFile) {
			continue
		}
		if k, err := formats.DecodeKey(f.Data, pw); err == nil && pki.KeyMatches(old, k) {
			return k, nil
		}
	}
	if b, err := pki.ReadFileLimited(st.cfg.KeyFile, pki.MaxFileSize); err == nil {
		if k, err := formats.DecodeKey(b, pw); err == nil && pki.KeyMatches(old, k) {
			return k, nil
		}
	}
	return nil, fmt.Errorf("the key of serial %s is no longer kept (the previous set holds another generation); revoke it on the CA with its serial", serialHex(old))
}

package agent

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// RevokeOptions are the arguments of `certagent revoke`.
type RevokeOptions struct {
	Reason RevocationReason
	// NoReissue keeps the revoked files in place (state revoked) instead
	// of issuing and deploying a new pair at once.
	NoReissue bool
}

// revokeTimeout bounds the CA's part of a revoke.
const revokeTimeout = 2 * time.Minute

// RevokeOnce is `certagent revoke NAME`: it revokes the cert on disk with
// its issuer, records the revocation, then (unless NoReissue) issues and
// deploys a new pair with the usual unit actions and rollback, and
// refreshes the crl_file of every cert of that issuer. A failed revoke
// changes nothing and returns the CA's error. It holds the state dir lock
// while revoking, so it never interleaves with a daemon's pass; as one
// op it needs only the agent, so a control socket can run it in the
// daemon later.
func (a *Agent) RevokeOnce(ctx context.Context, name string, opts RevokeOptions) error {
	st := a.certs[name]
	if st == nil {
		return fmt.Errorf("no cert named %q in the configuration", name)
	}
	if err := a.recover(ctx); err != nil {
		return err
	}
	if rf, ok := a.issuers[st.cfg.Issuer].(ReissueFirstRevoker); ok && rf.RevokesAfterReissue() && !opts.NoReissue {
		return a.revokeAfterReissue(ctx, st, opts)
	}
	if err := a.revoke(ctx, st, opts); err != nil {
		return err
	}
	po := passOptions{names: map[string]bool{name: true}, crlIssuers: map[string]bool{st.cfg.Issuer: true}}
	if !opts.NoReissue {
		po.force = map[string]bool{name: true}
	}
	a.pass(ctx, po)
	if err := ctx.Err(); err != nil {
		return err
	}
	if !opts.NoReissue && st.failures > 0 {
		return fmt.Errorf("%s was revoked, but its replacement failed: %s", name, st.lastErr)
	}
	if st.crl.errText() != "" {
		return fmt.Errorf("%s was revoked, but %s", name, st.crl.errText())
	}
	return nil
}

// revoke does the CA's part under the state dir lock and writes the
// record. The record follows the CA's acceptance: a crash before it
// leaves the cert unrevoked as far as certagent knows, and a repeated
// revoke converges (Revokers treat an already revoked serial as success).
func (a *Agent) revoke(ctx context.Context, st *certState, opts RevokeOptions) error {
	release, err := a.store.Lock(ctx)
	if err != nil {
		return fmt.Errorf("lock state dir: %w", err)
	}
	defer release()
	now := a.clock.Now()
	roots := a.issuerRoots(ctx)
	a.inspect(st, roots[st.cfg.Issuer], now)
	log := a.log.With("cert", st.name, "issuer", st.cfg.Issuer, "reason", opts.Reason.String())
	if st.leaf == nil {
		return fmt.Errorf("%s: no certificate on disk to revoke (%s)", st.name, st.cfg.CertFile)
	}
	leaf, chain, err := rereadLeaf(st)
	if err != nil {
		return fmt.Errorf("%s: %w", st.name, err)
	}
	if why := notOwnCert(st, leaf); why != "" {
		return fmt.Errorf("%s: %s; not revoking (restore the cert's files, or revoke the serial at the CA)", st.name, why)
	}
	serial := serialHex(leaf)
	rv, ok := a.issuers[st.cfg.Issuer].(Revoker)
	if !ok {
		return fmt.Errorf("issuer %q cannot revoke certificates", st.cfg.Issuer)
	}
	rctx, cancel := context.WithTimeout(ctx, revokeTimeout)
	defer cancel()
	req := RevokeRequest{Name: st.name, Cert: leaf, Chain: chain, Reason: opts.Reason, Key: a.currentKey(st, leaf)}
	if err := rv.Revoke(rctx, req); err != nil {
		log.Error("revocation failed; nothing changed", "event", "revoke_failed", "serial", serial, "error", err)
		a.countRevocation(st.name, opts.Reason, "failure")
		return fmt.Errorf("revoke %s (serial %s): %w", st.name, serial, err)
	}
	rec := revocationRecord{Serial: serial, Reason: opts.Reason.String(), RevokedAt: now.UTC(), Reissue: !opts.NoReissue}
	if err := writeRevocation(a.cfg.Agent.StateDir, st.name, rec); err != nil {
		// The CA has revoked it: say so loudly, and still re-issue.
		// The CA has revoked it; the pass below still re-issues (forced).
		log.Error("revoked, but the record could not be written", "event", "revoked", "serial", serial, "error", err)
	}
	st.revoked = &rec
	log.Info("certificate revoked", "event", "revoked", "serial", serial, "reissue", !opts.NoReissue)
	a.countRevocation(st.name, opts.Reason, "success")
	a.emit(certEvent(eventRevoked, st, now, "certificate revoked ("+opts.Reason.String()+")", ""))
	return nil
}

func (a *Agent) countRevocation(cert string, reason RevocationReason, result string) {
	if m, ok := a.opts.Metrics.(RevocationMetrics); ok {
		m.Revocation(cert, reason.String(), result)
	}
}

// RevokeNow is RevokeOnce run by the daemon for a `certagent revoke`
// sent over the control socket: the Run goroutine does it between passes,
// with the daemon's metrics and log. A name the running configuration
// does not know wraps ErrNoSuchCert. Safe to call from any goroutine
// while Run runs.
func (a *Agent) RevokeNow(ctx context.Context, name string, opts RevokeOptions) error {
	return a.submit(ctx, func(ctx context.Context) error {
		if _, ok := a.certs[name]; !ok {
			return fmt.Errorf("%w: no cert named %q in the running configuration (known: %v)", ErrNoSuchCert, name, a.cfg.CertNames())
		}
		return a.RevokeOnce(ctx, name, opts)
	})
}

// notOwnCert says why the cert on disk may not be st's own: its key does
// not match, or its names are not exactly the configured ones. The output
// directory may belong to the service user, who could copy there another
// cert of the same CA (certs are public): revoking it would revoke an
// innocent cert and leave this one valid. Empty when it is st's.
func notOwnCert(st *certState, leaf *x509.Certificate) string {
	for _, p := range st.problems {
		if p.Kind == pki.ProblemMismatch {
			return fmt.Sprintf("the certificate in %s does not match %s", st.cfg.CertFile, st.cfg.KeyFile)
		}
	}
	norm := func(dns []string, ips []net.IP) []string {
		var out []string
		for _, d := range dns {
			out = append(out, "dns:"+strings.ToLower(strings.TrimSuffix(d, ".")))
		}
		for _, ip := range ips {
			out = append(out, "ip:"+ip.String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	have, want := norm(leaf.DNSNames, leaf.IPAddresses), norm(st.cfg.DNSNames, st.cfg.IPs)
	// A CA may copy common_name into the DNS names.
	withCN := norm(append(slices.Clone(st.cfg.DNSNames), st.cfg.CommonName), st.cfg.IPs)
	if !slices.Equal(have, want) && (st.cfg.CommonName == "" || !slices.Equal(have, withCN)) {
		return fmt.Sprintf("%s holds a certificate for %s, not for %s", st.cfg.CertFile, strings.Join(have, ","), strings.Join(want, ","))
	}
	return ""
}

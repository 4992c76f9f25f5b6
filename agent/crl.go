package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// crlRetry is how soon a failed CRL fetch is tried again (or sooner, at
// check_interval).
const crlRetry = time.Hour

// crlFetchTimeout bounds one CRL fetch.
const crlFetchTimeout = time.Minute

// crlState is what a cert with a crl_file keeps of it: the last good CRL
// (PEM), when to fetch it again, and why the last fetch or write failed.
// Most certs have no crl_file, so certState keeps it behind a pointer.
type crlState struct {
	data []byte
	next time.Time
	err  string
}

// errText is why the CRL was last not refreshed; "" for none (or nil).
func (c *crlState) errText() string {
	if c == nil {
		return ""
	}
	return c.err
}

// nextFetch is when to fetch the CRL again; zero for now (or nil).
func (c *crlState) nextFetch() time.Time {
	if c == nil {
		return time.Time{}
	}
	return c.next
}

// crlOf is st's crlState, made on first use.
func (s *certState) crlOf() *crlState {
	if s.crl == nil {
		s.crl = &crlState{}
	}
	return s.crl
}

// syncCRLs keeps every crl_file current: it fetches the issuer's CRL when
// the last one is past half its validity (or force names the issuer),
// checks it, and writes it when the bytes on disk differ, with the certs'
// crl_action recorded as pending unit actions. A CRL that fails a check
// is not written: the old one stays, and the cert's status says why.
// Certs naming the same crl_file share one fetch and one write.
func (a *Agent) syncCRLs(ctx context.Context, force map[string]bool, roots map[string][]*x509.Certificate) {
	groups := map[string][]*certState{}
	var order []string
	for _, st := range a.sortedCerts() {
		if st.cfg.CRLFile == "" {
			continue
		}
		st.crlOf() // fetchCRL, adoptNewerCRL and writeCRL use st.crl
		p := filepath.Clean(st.cfg.CRLFile)
		if groups[p] == nil {
			order = append(order, p)
		}
		groups[p] = append(groups[p], st)
	}
	now := a.clock.Now()
	for _, p := range order {
		g := groups[p]
		lead := g[0]
		if lead.leaf == nil && lead.inspected.IsZero() {
			a.inspect(lead, roots[lead.cfg.Issuer], now) // a one-shot pass restricted to other certs
		}
		if lead.leaf == nil {
			continue // nothing issued yet: nothing to check a CRL against
		}
		if force[lead.cfg.Issuer] || lead.crl.next.IsZero() || !now.Before(lead.crl.next) {
			a.fetchCRL(ctx, lead, roots[lead.cfg.Issuer], now)
		}
		if lead.crl.data != nil && !a.adoptNewerCRL(lead, roots[lead.cfg.Issuer], now) {
			a.writeCRL(g)
		}
		for _, st := range g[1:] {
			*st.crl = *lead.crl
		}
	}
}

// fetchCRL asks st's issuer for its current CRL and checks it.
func (a *Agent) fetchCRL(ctx context.Context, st *certState, roots []*x509.Certificate, now time.Time) {
	log := a.log.With("cert", st.name, "issuer", st.cfg.Issuer, "file", st.cfg.CRLFile)
	fail := func(err error) {
		st.crl.err = fmt.Sprintf("crl_file %s not refreshed (the old CRL is kept): %v", st.cfg.CRLFile, err)
		st.crl.next = now.Add(a.crlRetry())
		log.Error("cannot refresh the CRL; keeping the old one", "event", "crl_failed", "error", err,
			"retry_at", stamp(st.crl.next))
	}
	src, ok := a.issuers[st.cfg.Issuer].(CRLSource)
	if !ok {
		fail(fmt.Errorf("issuer %q provides no CRL", st.cfg.Issuer))
		return
	}
	cctx, cancel := context.WithTimeout(ctx, crlFetchTimeout)
	defer cancel()
	leaf, chain, err := rereadLeaf(st)
	if err != nil {
		fail(err)
		return
	}
	der, err := src.CRL(cctx, leaf, chain)
	if err != nil {
		fail(err)
		return
	}
	crl, err := checkCRL(der, leaf, issuerCandidates(st, chain, roots, now), now)
	if err != nil {
		fail(err)
		return
	}
	st.crl.data = pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
	st.crl.data = append(st.crl.data, a.overlapCRLs(cctx, src, st, roots, now)...)
	st.crl.err = ""
	// Fetch again at half its validity (when a local CA re-signs), and at
	// least every check_interval, so a CA's early re-signing is seen.
	next := crl.ThisUpdate.Add(crl.NextUpdate.Sub(crl.ThisUpdate) / 2)
	if iv := a.cfg.Agent.CheckInterval.Duration; iv > 0 && next.After(now.Add(iv)) {
		next = now.Add(iv)
	}
	if !next.After(now) {
		next = now.Add(a.crlRetry())
	}
	st.crl.next = next
}

func (a *Agent) crlRetry() time.Duration {
	if iv := a.cfg.Agent.CheckInterval.Duration; iv > 0 && iv < crlRetry {
		return iv
	}
	return crlRetry
}

// checkCRL parses der and requires it to be signed by the CA that issued
// leaf and not expired.
func checkCRL(der []byte, leaf *x509.Certificate, candidates []*x509.Certificate, now time.Time) (*x509.RevocationList, error) {
	if len(der) == 0 {
		return nil, errors.New("the issuer returned an empty CRL")
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("not a valid X.509 CRL (missing or truncated?): %w", err)
	}
	signed := false
	for _, c := range candidates {
		// The signature check on leaf tells apart two CAs of one name (a
		// local CA and its successor during a rotation).
		if bytes.Equal(c.RawSubject, leaf.RawIssuer) && bytes.Equal(crl.RawIssuer, c.RawSubject) &&
			leaf.CheckSignatureFrom(c) == nil && crl.CheckSignatureFrom(c) == nil {
			signed = true
			break
		}
	}
	if !signed {
		return nil, fmt.Errorf("the CRL (issuer %q) is not signed by the CA that issued the certificate (%q)",
			crl.Issuer.String(), leaf.Issuer.String())
	}
	if !crl.NextUpdate.IsZero() && !now.Before(crl.NextUpdate) {
		return nil, fmt.Errorf("the CRL expired at %s (nextUpdate)", stamp(crl.NextUpdate))
	}
	return crl, nil
}

// issuerCandidates are the certs that may have issued st's leaf: the
// issuer's roots, and the certs of its chain on disk (cert_file,
// chain_file, fullchain_file, ca_file) that chain to those roots at now.
// The files on disk are in a directory the service user may own, so a
// cert read there counts only once the roots vouch for it; when the
// issuer names no roots there is nothing to check it against.
func issuerCandidates(st *certState, chain, roots []*x509.Certificate, now time.Time) []*x509.Certificate {
	disk := append([]*x509.Certificate{}, chain...)
	for _, p := range []string{st.cfg.ChainFile, st.cfg.FullchainFile, st.cfg.CAFile} {
		if p == "" {
			continue
		}
		if certs, err := readCerts(p); err == nil {
			disk = append(disk, certs...)
		}
	}
	if len(roots) == 0 {
		return disk
	}
	rootPool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, r := range roots {
		rootPool.AddCert(r)
	}
	for _, c := range disk {
		inter.AddCert(c)
	}
	out := append([]*x509.Certificate{}, roots...)
	for _, c := range disk {
		opts := x509.VerifyOptions{Roots: rootPool, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}
		if _, err := c.Verify(opts); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// adoptNewerCRL keeps a CRL on disk that is at least as new as the one
// in memory: another certagent process (a one-shot `certagent revoke`
// beside this daemon) wrote it after this process last fetched. Writing
// the older one back would un-revoke a serial. Only a CRL that passes
// the same checks (signed by the leaf's issuer, not expired), signed by
// the same key as the CRL this process fetched, counts.
func (a *Agent) adoptNewerCRL(st *certState, roots []*x509.Certificate, now time.Time) bool {
	cur, err := pki.ReadFileLimited(st.cfg.CRLFile, pki.MaxFileSize)
	if err != nil || bytes.Equal(cur, st.crl.data) {
		return err == nil
	}
	blk, _ := pem.Decode(cur)
	mine, _ := pem.Decode(st.crl.data)
	if blk == nil || mine == nil || blk.Type != "X509 CRL" || crlCount(cur) != crlCount(st.crl.data) {
		return false // a CA rotation added or dropped the other CA's CRL
	}
	ours, err := x509.ParseRevocationList(mine.Bytes)
	if err != nil {
		return false
	}
	leaf, chain, err := rereadLeaf(st)
	if err != nil {
		return false
	}
	// The file is in a directory the service user may own: its CRL
	// counts only when signed by the key that signed the one the CA sent
	// us, never by a cert of the same name found beside it.
	var signers []*x509.Certificate
	cands := issuerCandidates(st, chain, roots, now)
	for _, c := range cands {
		if ours.CheckSignatureFrom(c) == nil {
			signers = append(signers, c)
		}
	}
	disk, err := checkCRL(blk.Bytes, leaf, signers, now)
	if err != nil || disk.Number == nil || ours.Number == nil || disk.Number.Cmp(ours.Number) < 0 {
		return false
	}
	if crlCount(cur) > 1 && !otherCRLsNotOlder(cur, st.crl.data, cands) {
		return false
	}
	st.crl.data = cur
	return true
}

// writeCRL commits the group's CRL when the file on disk differs, under
// a store name of its own (so the cert's own previous pair, kept for
// rollback, is untouched) with the crl_action of every cert that uses it.
// Those intents name the cert as "crl:NAME": a failing reload after a CRL
// change rolls no certificate back.
func (a *Agent) writeCRL(g []*certState) {
	lead := g[0]
	c := lead.cfg
	var intents []store.Intent
	for _, st := range g {
		if st.cfg.CRLAction == config.CRLActionNone || st.cfg.CRLAction == "" {
			continue
		}
		for _, u := range st.cfg.Units {
			intents = append(intents, store.Intent{Unit: u, Action: st.cfg.CRLAction, Cert: "crl:" + st.name})
		}
	}
	f := store.File{Path: c.CRLFile, Data: lead.crl.data, Mode: c.CertMode.FileMode, UID: c.UID, GID: c.GID,
		DirMode: c.DirMode.FileMode, FollowSymlinks: c.FollowSymlinks}
	log := a.log.With("cert", lead.name, "issuer", c.Issuer, "file", c.CRLFile)
	if _, err := a.store.Commit(crlStoreName(c), []store.File{f}, intents); err != nil {
		lead.crl.err = fmt.Sprintf("crl_file %s not written: %v", c.CRLFile, err)
		lead.crl.next = time.Time{} // try again next pass
		log.Error("cannot write the CRL", "event", "crl_failed", "error", err)
		return
	}
	log.Info("CRL updated", "event", "crl_updated", "units", len(intents))
}

// crlStoreName is the store's name for a crl_file's commits: '+' cannot
// appear in a cert name, so it never meets a cert's journal.
func crlStoreName(c *config.Cert) string {
	sum := sha256.Sum256([]byte(filepath.Clean(c.CRLFile)))
	return "crl+" + c.Issuer + "+" + hex.EncodeToString(sum[:6])
}

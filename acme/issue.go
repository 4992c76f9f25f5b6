package acme

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	legoacme "github.com/go-acme/lego/v4/acme"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
)

// Issue orders a certificate for req. It waits for a max_concurrent slot,
// returns as soon as ctx is done, and on error returns no Bundle. It
// writes nothing outside its state directory (and the webroot's
// challenge files, removed before it returns when it completes).
func (i *Issuer) Issue(ctx context.Context, req agent.Request) (*agent.Bundle, error) {
	if err := i.acquire(ctx); err != nil {
		return nil, fmt.Errorf("acme: order for %q: %w", req.Name, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	type result struct {
		b   *agent.Bundle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The slot is released only once lego has unwound, so a
		// cancelled order cannot let more than max_concurrent run.
		defer i.release()
		b, err := i.issue(ctx, req)
		ch <- result{b, err}
	}()
	select {
	case r := <-ch:
		cancel()
		return r.b, r.err
	case <-ctx.Done():
		cancel()
		return nil, fmt.Errorf("acme: order for %q: %w", req.Name, context.Cause(ctx))
	}
}

func (i *Issuer) issue(ctx context.Context, req agent.Request) (_ *agent.Bundle, err error) {
	log := i.log.With("cert", req.Name)
	if err := i.ensureStateDir(); err != nil {
		return nil, err
	}
	hc, hint := i.clients.forContext(ctx)
	// A 503 or 429 with Retry-After on any request of this order makes the
	// agent come back then, instead of after its own backoff.
	defer func() { err = hint.wrap(err) }()
	acct, err := i.account(hc)
	if err != nil {
		// The agent logs the failure it gets back; log once here only at
		// debug level so it is not reported twice.
		log.Debug("ACME account unavailable", "error", err)
		return nil, err
	}
	kt := req.KeyType
	if kt == "" {
		kt = pki.KeyEC256
	}
	key := req.CurrentKey // reuse_key: the agent checked its type and policy
	if !req.ReuseKey || key == nil {
		key, err = pki.GenerateKey(kt)
	}
	if err != nil {
		return nil, err
	}
	csr, err := makeCSR(req, key)
	if err != nil {
		return nil, err
	}
	client, err := lego.NewClient(i.legoConfig(hc, acct))
	if err != nil {
		return nil, mapError("connect to ACME directory", err)
	}
	cleanup, err := i.setupChallenge(client, log)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	res, err := i.obtain(client, req, csr, log)
	if err != nil {
		if accountGone(err) {
			i.forgetAccount()
		}
		log.Debug("ACME order failed", "error", err)
		return nil, err
	}
	b, err := bundleFromPEM(res.Certificate, key)
	if err != nil {
		return nil, err
	}
	rootFromBundle(b, i.roots)
	log.Info("certificate issued", "serial", b.Leaf.SerialNumber.Text(16), "not_after", b.Leaf.NotAfter)
	return b, nil
}

// obtain runs the order, with ARI's replaces when there is a current cert
// and ARI is on. A CA that says the cert was already replaced (e.g. we
// crashed after the last order) gets the order again without replaces;
// so does a CA that rejects replaces as malformed because it did not
// issue the current cert (directory changed, e.g. staging to production,
// or the CA's state was reset), or as unauthorized because another
// account ordered it (we re-registered), or with a server error about the
// certificate to be replaced (Pebble, after an account key rollover):
// replaces is a hint, and keeping it would fail every renewal until the
// cert expired and after.
func (i *Issuer) obtain(client *lego.Client, req agent.Request, csr *x509.CertificateRequest, log hclog.Logger) (*certificate.Resource, error) {
	r := certificate.ObtainForCSRRequest{CSR: csr, Bundle: true, Profile: i.cfg.Profile}
	if i.ariEnabled() && req.Current != nil {
		id, err := certificate.MakeARICertID(req.Current)
		if err == nil {
			r.ReplacesCertID = id
		}
	}
	res, err := client.Certificate.ObtainForCSR(r)
	var already *legoacme.AlreadyReplacedError
	var prob *legoacme.ProblemDetails
	switch {
	case err == nil || r.ReplacesCertID == "":
	case errors.As(err, &already):
		log.Warn("CA says the current certificate was already replaced; ordering without replaces")
		r.ReplacesCertID = ""
		res, err = client.Certificate.ObtainForCSR(r)
	case errors.As(err, &prob) && (strings.HasSuffix(prob.Type, ":malformed") ||
		// The account changed at the same CA (re-registered): the CA
		// refuses to let it replace another account's cert.
		strings.HasSuffix(prob.Type, ":unauthorized") && strings.Contains(strings.ToLower(prob.Detail), "replace") ||
		// The CA could not find what the named certificate replaces.
		strings.HasSuffix(prob.Type, ":serverInternal") && strings.Contains(strings.ToLower(prob.Detail), "given certificate")):
		log.Warn("CA rejected the order naming the current certificate as replaced; ordering without replaces",
			"problem", prob.Detail)
		r.ReplacesCertID = ""
		res, err = client.Certificate.ObtainForCSR(r)
	}
	if err != nil {
		return nil, mapError("order certificate", err)
	}
	return res, nil
}

// setupChallenge configures the one challenge type of this issuer on a
// per-order lego client and returns the cleanup to run after the order.
func (i *Issuer) setupChallenge(client *lego.Client, log hclog.Logger) (func(), error) {
	switch {
	case i.cfg.Challenge == ChallengeHTTP01 && i.cfg.Webroot != "":
		p := newWebrootProvider(i.cfg.Webroot)
		return func() {
			if err := p.release(); err != nil {
				log.Error("removing webroot challenge files", "error", err)
			}
		}, client.Challenge.SetHTTP01Provider(p)
	case i.cfg.Challenge == ChallengeHTTP01:
		p := newOrderProvider(i.http)
		return p.release, client.Challenge.SetHTTP01Provider(p)
	case i.cfg.Challenge == ChallengeTLSALPN01:
		p := newOrderProvider(i.tls)
		return p.release, client.Challenge.SetTLSALPN01Provider(p)
	}
	if err := useResolvers(i.cfg.DNSResolvers); err != nil {
		return nil, err
	}
	p, err := i.newDNSProvider()
	if err != nil {
		return nil, err
	}
	var opts []dns01.ChallengeOption
	if len(i.cfg.DNSResolvers) > 0 {
		opts = append(opts, dns01.DisableAuthoritativeNssPropagationRequirement())
	}
	return func() {}, client.Challenge.SetDNS01Provider(p, opts...)
}

// account returns the verified account, registering when needed.
func (i *Issuer) account(hc *http.Client) (*account, error) {
	i.acctMu.Lock()
	defer i.acctMu.Unlock()
	if i.acct != nil && keyReplacedOnDisk(i.stateDir, i.acct) {
		i.acct = nil // `certagent account rollover` ran in another process
	}
	return i.ensureAccount(hc)
}

// forgetAccount makes the next order re-check (and if need be redo) the
// registration.
func (i *Issuer) forgetAccount() {
	i.acctMu.Lock()
	i.acct = nil
	i.acctMu.Unlock()
}

func (i *Issuer) ariEnabled() bool { return i.cfg.ARI == nil || *i.cfg.ARI }

// makeCSR builds the CSR for req signed with key. The CN is kept when it
// fits (64 bytes) and is not an IP address; the CA takes the identifiers
// from the SANs. An IP in the CN (what the config defaults to for an
// IP-only cert) is refused by Let's Encrypt, and RFC 8738 identifiers
// live in the SAN only, so such an order goes without a CN.
func makeCSR(req agent.Request, key crypto.Signer) (*x509.CertificateRequest, error) {
	tmpl := &x509.CertificateRequest{DNSNames: req.DNSNames, IPAddresses: req.IPAddresses}
	if cn := req.CommonName; cn != "" && len(cn) <= 64 && net.ParseIP(cn) == nil {
		tmpl.Subject = pkix.Name{CommonName: cn}
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		return nil, fmt.Errorf("create CSR: %w", err)
	}
	return x509.ParseCertificateRequest(der)
}

// bundleFromPEM splits the CA's PEM chain into leaf, intermediates (in the
// CA's order) and, when the CA included its self-signed root, Roots.
func bundleFromPEM(data []byte, key crypto.Signer) (*agent.Bundle, error) {
	var certs []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse issued certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("CA returned no certificate")
	}
	b := &agent.Bundle{Key: key, Leaf: certs[0], Chain: certs[1:]}
	if !publicKeyEqual(b.Leaf.PublicKey, key.Public()) {
		return nil, errors.New("CA returned a certificate for another key")
	}
	if n := len(b.Chain); n > 0 {
		last := b.Chain[n-1]
		if last.IsCA && last.CheckSignatureFrom(last) == nil {
			b.Roots = []*x509.Certificate{last}
			b.Chain = b.Chain[:n-1]
		}
	}
	return b, nil
}

func publicKeyEqual(a, b crypto.PublicKey) bool {
	ka, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ka.Equal(b)
}

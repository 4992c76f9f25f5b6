package stepca

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/certagent/certagent/agent"
)

// renew renews the current pair over mutual TLS: /1.0/rekey with a new
// key, or /1.0/renew with reuse_key. An expired cert cannot open mutual
// TLS: it is renewed with a token signed by its key, then rekeyed at once.
func (i *Issuer) renew(ctx context.Context, req agent.Request, t *trustState) (*agent.Bundle, error) {
	leaf, key := req.Current, req.CurrentKey
	if !i.now().Before(leaf.NotAfter) {
		b, err := i.renewExpired(ctx, leaf, key, t)
		if err != nil || req.ReuseKey {
			return b, err
		}
		nb, err := i.rekey(ctx, req, b.Leaf, key, t)
		if err != nil {
			i.log.Warn("renewed the expired certificate, but the rekey right after failed; keeping the key", "issuer", i.name, "cert", req.Name, "error", err)
			return b, nil
		}
		return nb, nil
	}
	if req.ReuseKey {
		var resp signResponse
		c := newClient(i.base, t.roots, i.clientCert(leaf, key, t))
		if err := c.do(ctx, "POST", "/1.0/renew", "", nil, &resp); err != nil {
			return nil, err
		}
		return i.bundle(&resp, key, t)
	}
	return i.rekey(ctx, req, leaf, key, t)
}

// rekey asks /1.0/rekey for a cert with a new key, authenticated by the
// pair (leaf, key).
func (i *Issuer) rekey(ctx context.Context, req agent.Request, leaf *x509.Certificate, key crypto.Signer, t *trustState) (*agent.Bundle, error) {
	nk, csr, err := newCSR(req)
	if err != nil {
		return nil, err
	}
	var resp signResponse
	c := newClient(i.base, t.roots, i.clientCert(leaf, key, t))
	if err := c.do(ctx, "POST", "/1.0/rekey", "", map[string]string{"csr": csr}, &resp); err != nil {
		return nil, err
	}
	return i.bundle(&resp, nk, t)
}

// renewExpired renews an expired cert with the bearer token step-ca
// accepts when its provisioner has allowRenewalAfterExpiry.
func (i *Issuer) renewExpired(ctx context.Context, leaf *x509.Certificate, key crypto.Signer, t *trustState) (*agent.Bundle, error) {
	tok, err := renewToken(key, append([]*x509.Certificate{leaf}, i.intermediatesFor(leaf, t)...),
		(&client{base: i.base}).url("/1.0/renew"), i.now())
	if err != nil {
		return nil, err
	}
	var resp signResponse
	if err := newClient(i.base, t.roots, nil).do(ctx, "POST", "/1.0/renew", tok, nil, &resp); err != nil {
		return nil, fmt.Errorf("renew after expiry: %w", err)
	}
	return i.bundle(&resp, key, t)
}

// clientCert is the pair offered for mutual TLS, with the intermediates
// step-ca needs to chain it to its roots.
func (i *Issuer) clientCert(leaf *x509.Certificate, key crypto.Signer, t *trustState) *tls.Certificate {
	c := &tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf}
	for _, in := range i.intermediatesFor(leaf, t) {
		c.Certificate = append(c.Certificate, in.Raw)
	}
	return c
}

func (i *Issuer) intermediatesFor(leaf *x509.Certificate, t *trustState) []*x509.Certificate {
	var out []*x509.Certificate
	for _, in := range t.intermediates {
		if string(in.RawSubject) == string(leaf.RawIssuer) {
			out = append(out, in)
		}
	}
	return out
}

package acme

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"crypto/x509"
	"encoding/pem"

	"github.com/go-acme/lego/v4/lego"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
)

var (
	_ agent.Revoker   = (*Issuer)(nil)
	_ agent.CRLSource = (*Issuer)(nil)
)

// maxCRLSize caps a fetched CRL; a public CA's CRL shard is far smaller.
const maxCRLSize = 32 << 20

// Revoke revokes req.Cert at the CA with the issuer's account (RFC 8555
// section 7.6), giving the reason. A cert the CA reports as already
// revoked is success, so a revoke repeated after a crash converges. The
// error carries the CA's problem document.
func (i *Issuer) Revoke(ctx context.Context, req agent.RevokeRequest) error {
	if req.Cert == nil {
		return fmt.Errorf("acme: revoke %q: no certificate", req.Name)
	}
	if err := i.ensureStateDir(); err != nil {
		return err
	}
	type result struct{ err error }
	ch := make(chan result, 1)
	go func() { ch <- result{i.revoke(ctx, req)} }()
	select {
	case r := <-ch:
		return r.err
	case <-ctx.Done():
		return fmt.Errorf("acme: revoke %q: %w", req.Name, context.Cause(ctx))
	}
}

func (i *Issuer) revoke(ctx context.Context, req agent.RevokeRequest) (err error) {
	hc, hint := i.clients.forContext(ctx)
	defer func() { err = hint.wrap(err) }()
	acct, err := i.account(hc)
	if err != nil {
		return err
	}
	client, err := lego.NewClient(i.legoConfig(hc, acct))
	if err != nil {
		return mapError("connect to ACME directory", err)
	}
	reason := uint(req.Reason)
	serial := req.Cert.SerialNumber.Text(16)
	err = client.Certificate.RevokeWithReason(pki.EncodeCertsPEM(req.Cert), &reason)
	if err == nil {
		i.log.Info("certificate revoked at the CA", "cert", req.Name, "serial", serial, "reason", req.Reason.String())
		return nil
	}
	err = mapError(fmt.Sprintf("revoke serial %s", serial), err)
	var pe *ProblemError
	if errors.As(err, &pe) && strings.HasSuffix(pe.Type, ":alreadyRevoked") {
		i.log.Info("certificate was already revoked at the CA", "cert", req.Name, "serial", serial)
		return nil
	}
	if accountGone(err) {
		i.forgetAccount()
	}
	return err
}

// CRL fetches the CRL named in leaf's CRL Distribution Point (the first
// http or https one). A leaf that names none gets an error wrapping
// agent.ErrNoCRL: the CA publishes no CRL for it (Pebble, and Let's
// Encrypt leaves that rely on OCSP or short lifetimes). The agent checks
// the signature and dates; this only fetches, bounded in size.
func (i *Issuer) CRL(ctx context.Context, leaf *x509.Certificate, _ []*x509.Certificate) ([]byte, error) {
	if leaf == nil {
		return nil, errors.New("acme: crl: no certificate")
	}
	var u string
	for _, p := range leaf.CRLDistributionPoints {
		if pu, err := url.Parse(p); err == nil && (pu.Scheme == "http" || pu.Scheme == "https") && pu.Host != "" {
			u = p
			break
		}
	}
	if u == "" {
		return nil, fmt.Errorf("acme: serial %s names no CRL Distribution Point: %w", leaf.SerialNumber.Text(16), agent.ErrNoCRL)
	}
	hc, _ := i.clients.forContext(ctx)
	return fetchCRL(ctx, hc, u)
}

// fetchCRL GETs u and returns its body: DER, or PEM which is decoded.
func fetchCRL(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("acme: crl %s: %w", u, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("acme: fetch crl: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("acme: fetch crl %s: HTTP %s", u, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLSize+1))
	if err != nil {
		return nil, fmt.Errorf("acme: fetch crl %s: %w", u, err)
	}
	if len(body) > maxCRLSize {
		return nil, fmt.Errorf("acme: fetch crl %s: larger than %d bytes", u, maxCRLSize)
	}
	if b, _ := pem.Decode(body); b != nil && b.Type == "X509 CRL" {
		return b.Bytes, nil
	}
	return body, nil
}

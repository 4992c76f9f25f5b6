package acme

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/lego"

	"github.com/certagent/certagent/agent"
)

// RenewalInfo fetches the CA's suggested renewal window for cert (RFC
// 9773). It returns nil, nil when ARI is switched off for this issuer or
// the CA's directory offers no renewalInfo. issuer is unused: lego v4
// derives the certificate ID from cert's AKI and serial. RetryAfter is
// the CA's Retry-After (zero when it sent none).
func (i *Issuer) RenewalInfo(ctx context.Context, cert, issuer *x509.Certificate) (*agent.RenewalWindow, error) {
	if !i.ariEnabled() {
		return nil, nil
	}
	if cert == nil {
		return nil, errors.New("acme: renewal info: no certificate")
	}
	// ARI is an unauthenticated GET; lego still wants a key to build its
	// client, so an ephemeral one is used and the account is not touched.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	// A failed ARI query only delays the next query (see the agent), so a
	// Retry-After on it is not needed.
	hc, _ := i.clients.forContext(ctx)
	client, err := lego.NewClient(i.legoConfig(hc, &account{key: k}))
	if err != nil {
		return nil, mapError("renewal info: connect to ACME directory", err)
	}
	start := time.Now()
	info, err := client.Certificate.GetRenewalInfo(certificate.RenewalInfoRequest{Cert: cert})
	if errors.Is(err, api.ErrNoARI) {
		return nil, nil
	}
	if err != nil {
		return nil, mapError(fmt.Sprintf("renewal info for serial %s", cert.SerialNumber.Text(16)), err)
	}
	w := &agent.RenewalWindow{
		Start:          info.SuggestedWindow.Start,
		End:            info.SuggestedWindow.End,
		ExplanationURL: info.ExplanationURL,
	}
	if info.RetryAfter > 0 {
		w.RetryAfter = start.Add(info.RetryAfter)
	}
	if w.Start.IsZero() || w.End.Before(w.Start) {
		return nil, fmt.Errorf("acme: renewal info for serial %s: invalid window %s..%s",
			cert.SerialNumber.Text(16), w.Start, w.End)
	}
	return w, nil
}

package stepca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
)

var (
	_ agent.ReissueFirstRevoker = (*Issuer)(nil)
	_ agent.CRLSource           = (*Issuer)(nil)
)

// maxCRL bounds step-ca's CRL: a CA with many revoked serials makes a
// large one, but not this large.
const maxCRL = 16 << 20

// RevokesAfterReissue is true: step-ca authenticates a revocation over
// mutual TLS with the pair being revoked, and once it is revoked that
// pair can neither renew nor rekey. The agent therefore rekeys and
// deploys the new pair first (agent.ReissueFirstRevoker).
func (i *Issuer) RevokesAfterReissue() bool { return true }

// Revoke revokes req.Cert on step-ca's /1.0/revoke over mutual TLS with
// req.Cert and req.Key, passively (step-ca implements no other kind: the
// serial is refused for renewal and listed in its CRL). A serial step-ca
// already holds as revoked is success (agent.Revoker).
func (i *Issuer) Revoke(ctx context.Context, req agent.RevokeRequest) error {
	if err := i.revoke(ctx, req); err != nil {
		return fmt.Errorf("step issuer %q: %w", i.name, err)
	}
	return nil
}

func (i *Issuer) revoke(ctx context.Context, req agent.RevokeRequest) error {
	if req.Cert == nil {
		return errors.New("no certificate to revoke")
	}
	if req.Key == nil || !pki.KeyMatches(req.Cert, req.Key) {
		return fmt.Errorf("step-ca accepts a revocation only over mutual TLS with the certificate's own key, which cannot be read (removed after start, or a wrong key_password): revoke serial %s on the CA with `step ca revoke`",
			req.Cert.SerialNumber.String())
	}
	t, err := i.knownTrust()
	if err != nil {
		return err
	}
	body := map[string]any{
		"serial":     req.Cert.SerialNumber.String(), // step-ca compares it with the client cert's, in decimal
		"reasonCode": int(req.Reason),
		"reason":     req.Reason.String(),
		"passive":    true,
	}
	var resp struct {
		Status string `json:"status"`
	}
	err = newClient(i.base, t.roots, i.clientCert(req.Cert, req.Key, t)).do(ctx, "POST", "/1.0/revoke", "", body, &resp)
	if alreadyRevoked(err) {
		i.log.Info("step-ca already holds the certificate as revoked", "issuer", i.name, "cert", req.Name,
			"serial", req.Cert.SerialNumber.String())
		return nil
	}
	return err
}

// alreadyRevoked reports whether step-ca refused a revocation because the
// serial is revoked already.
func alreadyRevoked(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && strings.Contains(strings.ToLower(ae.Message), "already revoked")
}

// CRL fetches step-ca's current CRL from /crl (DER), when its ca.json
// enables "crl"; otherwise the error wraps agent.ErrNoCRL. The agent
// checks its signature against the leaf's issuer (agent.CRLSource).
func (i *Issuer) CRL(ctx context.Context, _ *x509.Certificate, _ []*x509.Certificate) ([]byte, error) {
	t, err := i.knownTrust()
	if err != nil {
		return nil, fmt.Errorf("step issuer %q: %w", i.name, err)
	}
	der, err := newClient(i.base, t.roots, nil).raw(ctx, "/crl", maxCRL)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, fmt.Errorf("step issuer %q: step-ca serves no CRL (enable \"crl\" in its ca.json): %w", i.name, agent.ErrNoCRL)
	}
	if err != nil {
		return nil, fmt.Errorf("step issuer %q: %w", i.name, err)
	}
	return der, nil
}

// knownTrust is the trusted set saved by the last enrollment or refresh,
// without contacting the CA: revocations and CRLs need no bootstrap.
func (i *Issuer) knownTrust() (*trustState, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.trust != nil && i.current(i.trust) {
		return i.trust, nil
	}
	t, err := i.loadTrust()
	if err != nil {
		return nil, err
	}
	if t == nil || !i.current(t) {
		return nil, errors.New("no trusted step-ca root yet: the issuer has not enrolled")
	}
	i.trust = t
	return t, nil
}

// raw GETs path and returns the body as is, at most limit bytes.
func (c *client) raw(ctx context.Context, path string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url(path), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "certagent")
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrapURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", path, limit)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &apiError{Path: path, Status: resp.StatusCode, Message: strings.TrimSpace(string(data[:min(len(data), 200)]))}
	}
	return data, nil
}

package stepca

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// Limits on what step-ca may send back; its real answers are a few KiB.
const (
	maxResponse    = 1 << 20
	requestTimeout = 60 * time.Second
)

// apiError is a non-2xx answer from step-ca, with the message from its
// JSON error body when it sent one.
type apiError struct {
	Path    string
	Status  int
	Message string
}

func (e *apiError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("%s: HTTP %d", e.Path, e.Status)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Path, e.Status, e.Message)
}

// refused reports whether step-ca turned the request down on its merits
// (bad, used or expired token; revoked or unknown client certificate), as
// opposed to being unreachable or failing: only a new token helps then.
func refused(err error) bool {
	if err == nil {
		return false
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden
	}
	// The TLS layer refused our client certificate (unknown CA, expired).
	s := err.Error()
	return strings.Contains(s, "remote error: tls: bad certificate") ||
		strings.Contains(s, "remote error: tls: unknown certificate authority") ||
		strings.Contains(s, "remote error: tls: certificate required") ||
		strings.Contains(s, "remote error: tls: expired certificate")
}

// signResponse is step-ca's answer to /1.0/sign, /1.0/renew and /1.0/rekey.
type signResponse struct {
	Crt       string   `json:"crt"`
	CA        string   `json:"ca"`
	CertChain []string `json:"certChain"`
}

// certsResponse is the answer of /roots, /federation and /intermediates.
type certsResponse struct {
	Crts []string `json:"crts"`
}

// client talks to one step-ca. It holds no state beyond its transport.
type client struct {
	base *url.URL
	hc   *http.Client
}

// newClient verifies step-ca's TLS certificate with roots, or not at all
// when roots is nil (only for /root/<fingerprint>, whose answer is then
// checked by its hash). cert, when set, is offered for mutual TLS.
func newClient(base *url.URL, roots []*x509.Certificate, cert *tls.Certificate) *client {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if roots == nil {
		cfg.InsecureSkipVerify = true // the root's hash is checked instead
	} else {
		pool := x509.NewCertPool()
		for _, r := range roots {
			pool.AddCert(r)
		}
		cfg.RootCAs = pool
	}
	if cert != nil {
		c := *cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: 15 * time.Second,
		DisableKeepAlives:   true, // one request per renewal; nothing to keep
	}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: requestTimeout}}
}

func (c *client) url(path string) string {
	u := *c.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String()
}

// do sends one request and decodes a JSON answer into out.
func (c *client) do(ctx context.Context, method, path, bearer string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "certagent")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, unwrapURL(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s: read answer: %w", path, err)
	}
	if len(data) > maxResponse {
		return fmt.Errorf("%s: answer larger than %d bytes", path, maxResponse)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		return &apiError{Path: path, Status: resp.StatusCode, Message: e.Message}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: bad answer: %w", path, err)
	}
	return nil
}

// unwrapURL drops url.Error's "Post "https://…": " prefix; the path is
// named by the caller and the URL is in the issuer's config.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// parseChain turns a sign response into the leaf and its intermediates.
func parseChain(r *signResponse) (*x509.Certificate, []*x509.Certificate, error) {
	pems := r.CertChain
	if len(pems) == 0 {
		pems = []string{r.Crt, r.CA}
	}
	var certs []*x509.Certificate
	for _, p := range pems {
		if strings.TrimSpace(p) == "" {
			continue
		}
		cs, err := pki.ParseCertsPEM([]byte(p))
		if err != nil {
			return nil, nil, fmt.Errorf("certificate in answer: %w", err)
		}
		certs = append(certs, cs...)
	}
	if len(certs) == 0 {
		return nil, nil, errors.New("answer holds no certificate")
	}
	return certs[0], certs[1:], nil
}

// parsePEMs parses the certificates of a /roots or /federation answer.
func parsePEMs(pems []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range pems {
		cs, err := pki.ParseCertsPEM([]byte(p))
		if err != nil {
			return nil, err
		}
		out = append(out, cs...)
	}
	return out, nil
}

package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/lego"
)

// Timeouts for talking to the ACME server. lego retries bad nonces for
// up to 20 s and polls authorizations and orders; these bound each call.
const (
	requestTimeout = 30 * time.Second
	// issueTimeout is how long lego waits for an order to become valid
	// after finalization.
	issueTimeout = 60 * time.Second
)

// httpClients holds the transport shared by all calls of one issuer (so
// connections are reused); each call gets a client bound to its context.
type httpClients struct {
	base *http.Transport
}

// newHTTPClients trusts the system roots plus the PEM certificates in
// caBundle (when set). Verification is never disabled.
func newHTTPClients(caBundle string) (*httpClients, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caBundle != "" {
		data, err := os.ReadFile(caBundle)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("%s holds no PEM certificate", caBundle)
		}
	}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   15 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
		TLSClientConfig:       &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	}
	return &httpClients{base: tr}, nil
}

// forContext returns a client whose every request is bound to ctx, which
// is how cancellation reaches lego's context-free API.
func (h *httpClients) forContext(ctx context.Context) *http.Client {
	return &http.Client{
		Timeout:   requestTimeout,
		Transport: ctxTransport{ctx: ctx, base: h.base},
	}
}

// ctxTransport cancels each request when ctx is done, in addition to
// the request's own context (which carries http.Client's timeout).
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	// http.Client cancels req.Context() once the body is closed; drop the
	// hook on t.ctx then so it does not accumulate.
	context.AfterFunc(ctx, func() { stop() })
	return t.base.RoundTrip(req.WithContext(ctx))
}

// legoConfig builds lego's client configuration for one call.
func (i *Issuer) legoConfig(hc *http.Client, acct *account) *lego.Config {
	cfg := lego.NewConfig(acct)
	cfg.CADirURL = i.cfg.Directory
	cfg.HTTPClient = hc
	cfg.UserAgent = "certagent"
	cfg.Certificate.KeyType = certcrypto.EC256 // unused: we always send our own CSR
	cfg.Certificate.Timeout = issueTimeout
	return cfg
}

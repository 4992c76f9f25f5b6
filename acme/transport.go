package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-acme/lego/v4/acme/api"
	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/lego"

	"github.com/certagent/certagent/agent"
)

// Timeouts for talking to the ACME server. lego retries bad nonces for
// up to 20 s and polls authorizations and orders; these bound each call.
const (
	requestTimeout = 30 * time.Second
	// issueTimeout is how long lego waits for an order to become valid
	// after finalization.
	issueTimeout = 60 * time.Second
	// maxServerRetryAfter caps a Retry-After sent with 503 or a 429 that
	// is not a rateLimited problem: those mean an outage or overload, not
	// a quota, and a wrong header (a proxy's, say) must not stop renewals
	// for days. rateLimited keeps its Retry-After uncapped: quotas last
	// up to a week.
	maxServerRetryAfter = 6 * time.Hour
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
// is how cancellation reaches lego's context-free API, and the hint that
// collects the CA's Retry-After answers to this call's requests.
func (h *httpClients) forContext(ctx context.Context) (*http.Client, *serverHint) {
	hint := &serverHint{now: time.Now}
	return &http.Client{
		Timeout:   requestTimeout,
		Transport: ctxTransport{ctx: ctx, base: h.base, hint: hint},
	}, hint
}

// ctxTransport cancels each request when ctx is done, in addition to
// the request's own context (which carries http.Client's timeout).
type ctxTransport struct {
	ctx  context.Context
	base http.RoundTripper
	hint *serverHint
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
	resp, err := t.base.RoundTrip(req.WithContext(ctx))
	if err == nil && t.hint != nil {
		t.hint.note(resp)
	}
	return resp, err
}

// serverHint keeps the latest time a CA asked to be left alone until
// during one call: a Retry-After on a 503 (service unavailable) or 429
// answer. lego keeps Retry-After only for rateLimited problems, but an
// overloaded CA, or the load balancer in front of it, answers 503 with
// Retry-After and often with no problem document at all.
type serverHint struct {
	now   func() time.Time
	mu    sync.Mutex
	until time.Time
}

func (h *serverHint) note(resp *http.Response) {
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return
	}
	d, err := api.ParseRetryAfter(resp.Header.Get("Retry-After"))
	if err != nil || d <= 0 {
		return
	}
	until := h.now().Add(min(d, maxServerRetryAfter))
	h.mu.Lock()
	defer h.mu.Unlock()
	if until.After(h.until) {
		h.until = until
	}
}

// wrap returns err as an *agent.RetryAfterError when the call was told to
// retry later and err does not carry a retry time already (rateLimited's
// own, which mapError keeps uncapped).
func (h *serverHint) wrap(err error) error {
	if err == nil || h == nil {
		return err
	}
	if _, ok := agent.RetryAfter(err); ok {
		return err
	}
	h.mu.Lock()
	until := h.until
	h.mu.Unlock()
	if until.IsZero() {
		return err
	}
	return &agent.RetryAfterError{Until: until, Err: err}
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

// Package stepca is the issuer for step-ca's native API (type = "step"):
// enrollment with a one-time token on /1.0/sign, renewal over mutual TLS
// with the current pair on /1.0/rekey or /1.0/renew, and a trusted root
// set kept fresh from /roots and /federation. It speaks step-ca's HTTP
// API with net/http and go-jose; smallstep's client packages would bring
// the whole CA server along. See docs/cluster.md.
package stepca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
)

// Issuer is one [issuers.NAME] with type = "step". It implements
// agent.Issuer, agent.KeyRenewer and agent.TrustRefresher, and is safe
// for concurrent use.
type Issuer struct {
	name string
	dir  string
	cfg  config.Issuer
	base *url.URL
	log  hclog.Logger
	now  func() time.Time

	// mu guards trust and retryRefresh, and serializes bootstrap and
	// refresh.
	mu    sync.Mutex
	trust *trustState
	// retryRefresh is when Roots may try a failed daily refresh again:
	// passes can come every second, the CA need not hear of each.
	retryRefresh time.Time
}

var (
	_ agent.Issuer         = (*Issuer)(nil)
	_ agent.KeyRenewer     = (*Issuer)(nil)
	_ agent.TrustRefresher = (*Issuer)(nil)
)

// New returns the issuer named name, keeping its trust state in dir
// (state_dir/step/<name>). cfg must be validated. It touches nothing.
func New(name, dir string, cfg *config.Issuer, logger hclog.Logger) (*Issuer, error) {
	u, err := url.Parse(cfg.CAURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("ca_url %q is not an https URL", cfg.CAURL)
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Issuer{name: name, dir: dir, cfg: *cfg, base: u, log: logger, now: time.Now}, nil
}

// RenewsWithCurrentKey tells the agent to pass the current key: renewal
// is authenticated by it (agent.KeyRenewer).
func (i *Issuer) RenewsWithCurrentKey() bool { return true }

// Issue renews the current cert over mutual TLS when it can, else
// enrolls with the one-time token. A failure that only a new token can
// fix is an *agent.NeedsTokenError.
func (i *Issuer) Issue(ctx context.Context, req agent.Request) (*agent.Bundle, error) {
	b, err := i.issue(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("step issuer %q: %w", i.name, err)
	}
	return b, nil
}

func (i *Issuer) issue(ctx context.Context, req agent.Request) (*agent.Bundle, error) {
	tok, tokErr := i.readToken(req)
	var mismatch *rootMismatch
	if errors.As(tokErr, &mismatch) {
		return nil, mismatch
	}
	why := renewable(req)
	if why != "" && tok == nil {
		// Nothing to send: no request at all, however many hosts wait.
		return nil, i.needsToken(req, why+", and "+tokErr.Error())
	}
	t, err := i.trusted(ctx, req, tok, tokErr)
	if err != nil {
		return nil, err
	}
	if why == "" {
		b, err := i.renew(ctx, req, t)
		if err == nil || !refused(err) {
			return b, err
		}
		why = "step-ca refused to renew the current certificate: " + err.Error()
		if tok == nil {
			return nil, i.needsToken(req, why+", and "+tokErr.Error())
		}
	}
	return i.enroll(ctx, req, t, tok)
}

// renewable says why the current pair cannot be renewed, or "".
func renewable(req agent.Request) string {
	switch {
	case req.Current == nil:
		return "there is no certificate to renew yet"
	case req.CurrentKey == nil:
		return "the current key cannot be read, and renewal is proven with it"
	case !sameNames(req.Current, req):
		return "dns_names or ip_addresses changed, and step-ca keeps the old certificate's names when it renews"
	}
	return ""
}

// Roots returns the trusted set for recognising the issuer's certs:
// ca_file's roots plus the known intermediates, so a leaf-only cert_file
// is recognised too. It refreshes the set when it is a day old; nil
// before the first enrollment (the issuer is then unknown).
func (i *Issuer) Roots(ctx context.Context) ([]*x509.Certificate, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	t := i.trust
	if t == nil {
		var err error
		if t, err = i.loadTrust(); err != nil || t == nil || !i.current(t) {
			return nil, err
		}
		i.trust = t
	}
	if now := i.now(); now.Sub(t.RefreshedAt) >= RefreshEvery && !now.Before(i.retryRefresh) {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		if next, err := i.refresh(rctx, t); err != nil {
			i.retryRefresh = now.Add(time.Hour)
			i.log.Warn("cannot refresh the trusted roots; keeping the ones known", "issuer", i.name, "error", err,
				"retry_at", i.retryRefresh.UTC().Format(time.RFC3339))
		} else {
			t, i.trust = next, next
		}
		cancel()
	}
	return append(t.caFile(), t.intermediates...), nil
}

// CARoots is what ca_file must hold now: step-ca's roots and federated
// roots as last fetched (agent.TrustRefresher). It makes no request.
func (i *Issuer) CARoots() []*x509.Certificate {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.trust == nil {
		return nil
	}
	return i.trust.caFile()
}

// current reports whether a saved trust state still belongs to the
// configured CA and anchor.
func (i *Issuer) current(t *trustState) bool {
	anchor, _, err := i.anchorOf()
	return err == nil && t.CAURL == i.cfg.CAURL && (t.Anchor == anchor || anchor == "token")
}

// trusted loads or bootstraps the trusted set, then refreshes it: every
// issuance starts from step-ca's current roots.
func (i *Issuer) trusted(ctx context.Context, req agent.Request, tok *enrollToken, tokErr error) (*trustState, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	t, fresh := i.trust, false
	if t == nil || !i.current(t) {
		var err error
		if t, err = i.loadTrust(); err != nil {
			return nil, err
		}
		if t == nil || !i.current(t) {
			if t, err = i.bootstrap(ctx, tok, tokErr); err != nil {
				var nt *agent.NeedsTokenError
				if errors.As(err, &nt) {
					return nil, i.needsToken(req, nt.Reason)
				}
				return nil, err
			}
			fresh = true
		}
	}
	// A bootstrapped root is kept only once step-ca proved to hold it.
	next, err := i.refresh(ctx, t)
	if err != nil && fresh {
		return nil, fmt.Errorf("step-ca at %s does not serve TLS under the root from %s: %w", i.cfg.CAURL, t.Anchor, err)
	}
	if err != nil {
		return nil, err
	}
	i.trust = next
	return next, nil
}

// enroll spends the one-time token on /1.0/sign with a CSR for a new key
// and deletes the token once step-ca accepted it.
func (i *Issuer) enroll(ctx context.Context, req agent.Request, t *trustState, tok *enrollToken) (*agent.Bundle, error) {
	nk, csr, err := newCSR(req)
	if err != nil {
		return nil, err
	}
	body := map[string]string{"csr": csr, "ott": tok.jwt}
	if req.Validity > 0 {
		body["notAfter"] = req.Validity.String()
	}
	var resp signResponse
	err = newClient(i.base, t.roots, nil).do(ctx, "POST", "/1.0/sign", "", body, &resp)
	if refused(err) {
		return nil, i.needsToken(req, fmt.Sprintf("step-ca refused the token in %s (%v)", i.cfg.TokenFile, err))
	}
	if err != nil {
		return nil, err
	}
	b, err := i.bundle(&resp, nk, t)
	if err != nil {
		return nil, err
	}
	i.removeToken(req)
	return b, nil
}

// bundle checks and packs a sign answer.
func (i *Issuer) bundle(resp *signResponse, key crypto.Signer, t *trustState) (*agent.Bundle, error) {
	leaf, chain, err := parseChain(resp)
	if err != nil {
		return nil, err
	}
	if !pki.KeyMatches(leaf, key) {
		return nil, errors.New("step-ca returned a certificate for another key")
	}
	return &agent.Bundle{Key: key, Leaf: leaf, Chain: chain, Roots: t.caFile()}, nil
}

// newCSR makes a new key of the requested type and a CSR for it.
func newCSR(req agent.Request) (crypto.Signer, string, error) {
	kt := req.KeyType
	if kt == "" {
		kt = pki.KeyEC256
	}
	key, err := pki.GenerateKey(kt)
	if err != nil {
		return nil, "", fmt.Errorf("generate %s key: %w", kt, err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:     pkix.Name{CommonName: req.CommonName},
		DNSNames:    req.DNSNames,
		IPAddresses: req.IPAddresses,
	}, key)
	if err != nil {
		return nil, "", fmt.Errorf("csr: %w", err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), nil
}

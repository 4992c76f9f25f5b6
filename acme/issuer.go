// Package acme implements agent.Issuer and agent.RenewalInfoer for RFC
// 8555 certificate authorities (Let's Encrypt, step-ca, Pebble, ...) with
// github.com/go-acme/lego/v4 used as a library.
//
// One Issuer serves one [issuers.NAME] table. It keeps its account in its
// own state directory, solves http-01 (one shared standalone responder or
// a webroot), tls-alpn-01 (one shared responder) or dns-01 (lego's DNS
// providers), and bounds concurrent orders by max_concurrent.
//
// Cancellation: lego v4 takes no context. Every HTTP request lego makes
// for an Issue call carries that call's context (a per-call client wraps
// the transport), so a cancelled ctx fails lego's next or in-flight
// request; Issue itself returns as soon as ctx is done while lego's
// goroutine unwinds in the background (bounded by the HTTP timeouts and
// the challenge cleanup), holding its max_concurrent slot until it has.
package acme

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
)

// Challenge types.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
	ChallengeDNS01     = "dns-01"
)

// Issuer is an ACME issuer. Create it with New; it is safe for
// concurrent use.
type Issuer struct {
	name     string
	cfg      config.Issuer
	stateDir string
	log      hclog.Logger

	clients *httpClients
	// roots are ca_bundle's self-signed CAs, ca_file's source when the
	// CA omits its root from the chain (see rootFromBundle).
	roots []*x509.Certificate
	sem   chan struct{}
	http  *responder // http-01 standalone; nil otherwise
	tls   *responder // tls-alpn-01; nil otherwise

	acctMu sync.Mutex
	acct   *account // verified with the CA during this process's life
}

var (
	_ agent.Issuer        = (*Issuer)(nil)
	_ agent.RenewalInfoer = (*Issuer)(nil)
)

// New returns an Issuer that keeps its account in stateDir
// (state_dir/acme/<name>, created 0700 on first use). cfg must come from
// config.Load (or config.Parse): agent/config alone applies the defaults
// and validates, so New checks no key again. It reads ca_bundle and
// dns_env_file (a malformed env file fails here rather than at the first
// renewal), but opens no connection and starts nothing.
func New(name string, cfg *config.Issuer, stateDir string, logger hclog.Logger) (*Issuer, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	c := *cfg
	if c.Challenge == ChallengeDNS01 && c.DNSEnvFile != "" {
		if _, err := readEnvFile(c.DNSEnvFile); err != nil {
			return nil, fmt.Errorf("issuer %q: key \"dns_env_file\": %w", name, err)
		}
	}
	clients, err := newHTTPClients(c.CABundle)
	if err != nil {
		return nil, fmt.Errorf("issuer %q: key \"ca_bundle\": %w", name, err)
	}
	i := &Issuer{
		name:     name,
		cfg:      c,
		stateDir: stateDir,
		log:      logger.Named("acme").With("issuer", name),
		clients:  clients,
		roots:    bundleRoots(c.CABundle),
		sem:      make(chan struct{}, c.MaxConcurrent),
	}
	switch {
	case c.Challenge == ChallengeHTTP01 && c.Webroot == "":
		i.http = newHTTPResponder(c.HTTPListen)
	case c.Challenge == ChallengeTLSALPN01:
		i.tls = newTLSResponder(c.TLSListen)
	}
	return i, nil
}

// Name is the issuer's name in the config.
func (i *Issuer) Name() string { return i.name }

// Roots returns nil: the trust anchor of issued chains is learnt per
// order (see Bundle.Roots), and ca_bundle secures the connection to the
// ACME server, which is a separate trust; a ca_bundle root becomes an
// order's root only when it signed that chain (see rootFromBundle).
func (i *Issuer) Roots(ctx context.Context) ([]*x509.Certificate, error) {
	return nil, nil
}

// HTTPListenCount reports how many times the shared http-01 responder
// has bound its port; tests use it to prove concurrent orders share it.
func (i *Issuer) HTTPListenCount() int64 {
	if i.http == nil {
		return 0
	}
	return i.http.listens.Load()
}

// acquire takes a max_concurrent slot or gives up when ctx is done.
func (i *Issuer) acquire(ctx context.Context) error {
	select {
	case i.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (i *Issuer) release() { <-i.sem }

// ensureStateDir creates the state directory 0700.
func (i *Issuer) ensureStateDir() error {
	if err := os.MkdirAll(i.stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	return os.Chmod(i.stateDir, 0o700)
}

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
	"net/url"
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

// configIssuer is the config table this package validates.
type configIssuer = config.Issuer

// DefaultMaxConcurrent is used when max_concurrent is zero.
const DefaultMaxConcurrent = 4

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

// New validates cfg and returns an Issuer that keeps its account in
// stateDir (state_dir/acme/<name>, created 0700 on first use). It reads
// ca_bundle and checks the credential files, but opens no connection and
// starts nothing.
func New(name string, cfg *config.Issuer, stateDir string, logger hclog.Logger) (*Issuer, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	c := *cfg
	if err := validate(name, &c); err != nil {
		return nil, err
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

// validate checks the ACME keys of cfg and fills in defaults.
func validate(name string, c *config.Issuer) error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("issuer %q: key %q: %s", name, key, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.Directory)
	switch {
	case c.Directory == "":
		return bad("directory", "missing (set the CA's ACME directory URL)")
	case err != nil || u.Host == "":
		return bad("directory", "%q is not a URL", c.Directory)
	case u.Scheme != "https" && !(u.Scheme == "http" && c.InsecureDirectory):
		return bad("directory", "%q must be https (insecure_directory = true allows http for tests)", c.Directory)
	}
	if c.Challenge == "" {
		c.Challenge = ChallengeHTTP01
	}
	switch c.Challenge {
	case ChallengeHTTP01:
		if c.HTTPListen == "" {
			c.HTTPListen = ":80"
		}
		if c.Webroot != "" {
			if st, err := os.Stat(c.Webroot); err != nil || !st.IsDir() {
				return bad("webroot", "%q is not a directory", c.Webroot)
			}
		}
	case ChallengeTLSALPN01:
		if c.TLSListen == "" {
			c.TLSListen = ":443"
		}
	case ChallengeDNS01:
		if err := validateDNS(c); err != nil {
			return fmt.Errorf("issuer %q: %w", name, err)
		}
	default:
		return bad("challenge", "%q is not one of http-01, tls-alpn-01, dns-01", c.Challenge)
	}
	if (c.EABKID == "") != (c.EABHMACFile == "") {
		return bad("eab_kid", "eab_kid and eab_hmac_file must be set together")
	}
	if c.EABHMACFile != "" {
		if err := checkSecretFile(c.EABHMACFile); err != nil {
			return bad("eab_hmac_file", "%v", err)
		}
	}
	if c.MaxConcurrent < 0 {
		return bad("max_concurrent", "must be positive")
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = DefaultMaxConcurrent
	}
	return nil
}

// checkSecretFile requires a regular file not readable by group or others.
func checkSecretFile(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o; credentials must be 0600 or stricter (chmod 600 %s)",
			path, st.Mode().Perm(), path)
	}
	return nil
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

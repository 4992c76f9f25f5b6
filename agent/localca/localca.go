// Package localca is certagent's built-in certificate authority: an
// agent.Issuer that signs leaf certificates with a CA key kept in
// state_dir/ca/<issuer>/. See docs/local-ca.md.
package localca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
)

// Defaults for a request that leaves its key type or lifetime to the
// issuer (see agent.Request). They are agent/config's, the one owner of
// defaults; the CA's own settings come validated and defaulted from
// there, so New and the CA re-check none of them.
const (
	DefaultLeafKeyType  = pki.KeyType(config.DefaultKeyType)
	DefaultLeafValidity = config.DefaultLocalCertValidity
	// Backdate is how far NotBefore is set in the past (at most a tenth of
	// the validity), for peers whose
	// clocks run a little behind.
	Backdate = 5 * time.Minute
)

// CA is a local certificate authority. It implements agent.Issuer and is
// safe for concurrent use.
type CA struct {
	name string
	dir  string
	cfg  config.Issuer
	now  func() time.Time

	mu   sync.Mutex
	key  crypto.Signer     // nil until loaded
	cert *x509.Certificate // nil until loaded

	// crlMu serializes changes to the revocation list and the CRL
	// (crl.go); across processes the state dir lock does.
	crlMu sync.Mutex
}

var _ agent.Issuer = (*CA)(nil)

// New returns the CA named name whose key and certificate live in dir
// (state_dir/ca/<name>). It touches nothing: the CA is loaded, or created
// if neither file exists, on first use.
func New(name, dir string, cfg *config.Issuer) *CA {
	c := &CA{name: name, dir: dir, now: time.Now}
	if cfg != nil {
		c.cfg = *cfg
	}
	return c
}

// NoStaging marks the local CA as agent.StagingFree: it issues in memory.
func (c *CA) NoStaging() {}

// Issue signs a new leaf certificate for req with a fresh key generated
// in memory (req.CurrentKey instead when req.ReuseKey is set). The
// validity is req.Validity (DefaultLeafValidity when zero), clamped so
// that the leaf never outlives the CA certificate.
func (c *CA) Issue(ctx context.Context, req agent.Request) (*agent.Bundle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req.CommonName == "" && len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return nil, fmt.Errorf("local ca %q: cert %q has no common name, dns names or ip addresses", c.name, req.Name)
	}
	kt := req.KeyType
	if kt == "" {
		kt = DefaultLeafKeyType
	}
	if _, err := pki.ParseKeyType(string(kt)); err != nil {
		return nil, fmt.Errorf("local ca %q: cert %q: %w", c.name, req.Name, err)
	}
	v, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	caKey, caCert := v.sign.key, v.sign.cert
	key := req.CurrentKey // reuse_key: the agent checked its type and policy
	if !req.ReuseKey || key == nil {
		key, err = generateKey(ctx, kt)
	}
	if err != nil {
		return nil, fmt.Errorf("local ca %q: cert %q: generate %s key: %w", c.name, req.Name, kt, err)
	}
	tmpl, err := c.leafTemplate(req, key, caCert)
	if err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("local ca %q: cert %q: sign: %w", c.name, req.Name, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("local ca %q: cert %q: parse signed cert: %w", c.name, req.Name, err)
	}
	// CreateCertificate refused a caKey that does not match caCert and
	// checked the signature it made: the agent need not check it again.
	return &agent.Bundle{Key: key, Leaf: leaf, Roots: v.roots, SignedBy: caCert}, nil
}

// Roots returns the CA certificate, loading or creating the CA first;
// during a rotation, the roots ca_file holds in its phase.
func (c *CA) Roots(ctx context.Context) ([]*x509.Certificate, error) {
	v, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	return v.roots, nil
}

// ExistingRoots is Roots for read-only callers (`certagent status`,
// `check --files`): it never creates the CA. When the CA does not exist
// yet it returns an empty, non-nil slice, which pki.Expect reads as "no
// certificate can have been issued by this CA".
func (c *CA) ExistingRoots(ctx context.Context) ([]*x509.Certificate, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, err := c.rotationView(); err != nil || v != nil {
		if err != nil {
			return nil, err
		}
		return v.roots, nil
	}
	if c.cert != nil {
		return []*x509.Certificate{c.cert}, nil
	}
	key, cert, err := c.readExisting()
	if errors.Is(err, errNoCA) {
		return []*x509.Certificate{}, nil
	}
	if err != nil {
		return nil, err
	}
	c.key, c.cert = key, cert
	return []*x509.Certificate{cert}, nil
}

func (c *CA) leafTemplate(req agent.Request, key crypto.Signer, caCert *x509.Certificate) (*x509.Certificate, error) {
	now := c.now()
	validity := req.Validity
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	notAfter := now.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("local ca %q: ca certificate expired at %s; remove %s to start a new ca", c.name, caCert.NotAfter.UTC().Format(time.RFC3339), c.dir)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("local ca %q: serial: %w", c.name, err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("local ca %q: cert %q: %w", c.name, req.Name, err)
	}
	usage := x509.KeyUsageDigitalSignature
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		usage |= x509.KeyUsageKeyEncipherment
	}
	var eku []x509.ExtKeyUsage
	if req.ServerAuth || !req.ClientAuth {
		eku = append(eku, x509.ExtKeyUsageServerAuth)
	}
	if req.ClientAuth {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		DNSNames:              req.DNSNames,
		IPAddresses:           req.IPAddresses,
		NotBefore:             now.Add(-backdate(notAfter.Sub(now))),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           eku,
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		// AuthorityKeyId is taken from caCert.SubjectKeyId by x509.
		CRLDistributionPoints: c.crlURLs(),
	}, nil
}

// crlURLs is the CRL Distribution Point written into leaves (crl_url).
func (c *CA) crlURLs() []string {
	if c.cfg.CRLURL == "" {
		return nil
	}
	return []string{c.cfg.CRLURL}
}

// backdate is Backdate, or a tenth of the validity for short-lived certs:
// a 5-minute back-date on a 1-minute cert would make most of its recorded
// lifetime lie in the past and the renewal policy would find it due at
// once.
func backdate(validity time.Duration) time.Duration {
	if d := validity / 10; d < Backdate {
		return d
	}
	return Backdate
}

// randomSerial returns a random 128-bit serial with the top bit set, so
// that it is always positive and exactly 128 bits long.
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] |= 0x80
	return new(big.Int).SetBytes(b), nil
}

// subjectKeyID is the SHA-1 of the subjectPublicKey bit string (RFC 5280
// section 4.2.1.2, method 1); the hash is an identifier, not a signature.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

// generateKey runs pki.GenerateKey so that a cancelled ctx returns at
// once; RSA-4096 generation can take seconds and cannot be interrupted,
// so it finishes in the background and its key is dropped.
func generateKey(ctx context.Context, kt pki.KeyType) (crypto.Signer, error) {
	type result struct {
		key crypto.Signer
		err error
	}
	done := make(chan result, 1)
	go func() {
		k, err := pki.GenerateKey(kt)
		done <- result{k, err}
	}()
	select {
	case r := <-done:
		return r.key, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

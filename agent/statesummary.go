package agent

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// leafSummary is what the scheduler keeps of a certificate on disk
// between passes: its dates and serial, and a hash of its DER so that the
// rare paths that need the whole certificate (an issuance, ARI, a CRL
// check, a revocation, a CA rotation) can read it again and know it is
// the one inspected (rereadLeaf). A parsed certificate with its chain costs
// about 4 KB of heap; this, 64 bytes and the serial's string.
type leafSummary struct {
	// notBefore and notAfter are the validity dates in Unix seconds:
	// certificate times have no fraction of a second (the x509 parser
	// refuses one), and a time.Time is 24 bytes.
	notBefore, notAfter int64
	serial              string   // serialHex of the certificate
	sum                 [32]byte // SHA-256 of the leaf's DER
}

// summarize keeps what the scheduler needs of leaf (nil for nil).
func summarize(leaf *x509.Certificate) *leafSummary {
	if leaf == nil {
		return nil
	}
	return &leafSummary{notBefore: leaf.NotBefore.Unix(), notAfter: leaf.NotAfter.Unix(), serial: serialHex(leaf), sum: sha256.Sum256(leaf.Raw)}
}

// NotBefore is the certificate's NotBefore, in UTC.
func (s *leafSummary) NotBefore() time.Time { return time.Unix(s.notBefore, 0).UTC() }

// NotAfter is the certificate's NotAfter, in UTC.
func (s *leafSummary) NotAfter() time.Time { return time.Unix(s.notAfter, 0).UTC() }

// Serial is the certificate's serial as certagent writes it; "" for no
// certificate (a nil summary).
func (s *leafSummary) Serial() string {
	if s == nil {
		return ""
	}
	return s.serial
}

// is reports whether c is the certificate summarized.
func (s *leafSummary) is(c *x509.Certificate) bool {
	return s != nil && c != nil && sha256.Sum256(c.Raw) == s.sum
}

// errLeafChanged: the certificate file no longer holds the certificate
// last inspected; the next inspection will see the new one.
var errLeafChanged = errors.New("the certificate file changed since it was inspected")

// rereadLeaf reads the cert on disk again for the paths that need the whole
// certificate and its chain (see leafSummary): through the trusted-path
// reader, and only if it is still the certificate inspected.
func rereadLeaf(st *certState) (*x509.Certificate, []*x509.Certificate, error) {
	if st.leaf == nil {
		return nil, nil, errors.New("no certificate on disk")
	}
	certs, err := readCerts(st.cfg.CertFile)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", st.cfg.CertFile, err)
	}
	if len(certs) == 0 || !st.leaf.is(certs[0]) {
		return nil, nil, errLeafChanged
	}
	return certs[0], certs[1:], nil
}

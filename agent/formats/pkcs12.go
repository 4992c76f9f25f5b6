package formats

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/certagent/certagent/agent/pki"
)

// EncodePKCS12 builds a PKCS#12 archive of key, leaf and chain (the CA
// certificates), encrypted with password using the Modern encoder
// (AES-256-CBC with PBKDF2, HMAC-SHA-256 MAC), which Java 11.0.12+ and
// OpenSSL 1.1.1+ read. iterations is the PBKDF2 count of both the key bag
// and the MAC; the profile's own 2,048 would make the .p12 far cheaper to
// brute-force than the encrypted key (PBKDF2Iterations), which often
// shares its password. Zero means PBKDF2Iterations.
func EncodePKCS12(key crypto.Signer, leaf *x509.Certificate, chain []*x509.Certificate, password []byte, iterations int) ([]byte, error) {
	if len(password) == 0 {
		return nil, errors.New("pkcs12 needs a password")
	}
	if key == nil || leaf == nil {
		return nil, errors.New("pkcs12 needs a key and a certificate")
	}
	if iterations <= 0 {
		iterations = PBKDF2Iterations
	}
	der, err := pkcs12.Modern.WithIterations(iterations).Encode(key, leaf, chain, string(password))
	if err != nil {
		return nil, fmt.Errorf("encode pkcs12: %w", err)
	}
	return der, nil
}

// DecodePKCS12 opens an archive made by EncodePKCS12, for tests and for
// checking files on disk.
func DecodePKCS12(der []byte, password []byte) (crypto.Signer, *x509.Certificate, []*x509.Certificate, error) {
	k, leaf, chain, err := pkcs12.DecodeChain(der, string(password))
	if err != nil {
		return nil, nil, nil, errors.New("cannot open the pkcs12 file: wrong password or damaged file")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, leaf, chain, nil
}

// Bundle is one PEM file holding the key followed by the leaf and its
// chain, for consumers (HAProxy style) that read everything from one file.
func Bundle(keyPEM []byte, leaf *x509.Certificate, chain ...*x509.Certificate) []byte {
	out := append([]byte(nil), keyPEM...)
	return append(out, pki.EncodeCertsPEM(append([]*x509.Certificate{leaf}, chain...)...)...)
}

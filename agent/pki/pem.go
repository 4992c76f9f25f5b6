package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// PEM block types certagent reads and writes.
const (
	blockCert     = "CERTIFICATE"
	blockPKCS8    = "PRIVATE KEY"
	blockPKCS1    = "RSA PRIVATE KEY"
	blockSEC1     = "EC PRIVATE KEY"
	blockECParams = "EC PARAMETERS"
	blockEncPKCS8 = "ENCRYPTED PRIVATE KEY"
)

// Key formats accepted by EncodeKeyPEM.
const (
	FormatPKCS8 = "pkcs8"
	FormatPKCS1 = "pkcs1"
	FormatSEC1  = "sec1"
)

// EncodeKeyPEM encodes key as PEM in format: "pkcs8" (the default, also
// for ""), "pkcs1" (RSA only) or "sec1" (ECDSA only).
func EncodeKeyPEM(key crypto.Signer, format string) ([]byte, error) {
	if key == nil {
		return nil, errors.New("encode key: no key")
	}
	var (
		der   []byte
		block string
		err   error
	)
	switch format {
	case "", FormatPKCS8:
		block = blockPKCS8
		der, err = x509.MarshalPKCS8PrivateKey(key)
	case FormatPKCS1:
		k, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key format %q needs an rsa key, not %s (use %q)", format, describeKey(key), FormatPKCS8)
		}
		block, der = blockPKCS1, x509.MarshalPKCS1PrivateKey(k)
	case FormatSEC1:
		k, ok := key.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key format %q needs an ecdsa key, not %s (use %q)", format, describeKey(key), FormatPKCS8)
		}
		block = blockSEC1
		der, err = x509.MarshalECPrivateKey(k)
	default:
		return nil, fmt.Errorf("unknown key format %q (use %s, %s or %s)", format, FormatPKCS8, FormatPKCS1, FormatSEC1)
	}
	if err != nil {
		return nil, fmt.Errorf("encode %s key as %s: %w", describeKey(key), format, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: block, Bytes: der}), nil
}

// describeKey names a key's type for messages without revealing any of it.
func describeKey(key crypto.Signer) string {
	if kt, err := KeyTypeOf(key.Public()); err == nil {
		return string(kt)
	}
	return fmt.Sprintf("%T", key)
}

// ParseKeyPEM reads exactly one unencrypted private key in PKCS#8,
// PKCS#1 (RSA) or SEC1 (EC) PEM form. An "EC PARAMETERS" block, as
// written by `openssl ecparam -genkey`, is skipped. Errors never quote
// the input.
func ParseKeyPEM(b []byte) (crypto.Signer, error) {
	blocks, err := decodeBlocks(b, "private key", "openssl pkey -inform der -in FILE -out FILE.pem")
	if err != nil {
		return nil, err
	}
	var key crypto.Signer
	for i, blk := range blocks {
		if blk.Type == blockECParams {
			continue
		}
		if key != nil {
			return nil, fmt.Errorf("more than one pem block: block %d is %q after the private key (a key file holds one key only)", i+1, blk.Type)
		}
		if key, err = parseKeyBlock(blk); err != nil {
			return nil, err
		}
	}
	if key == nil {
		return nil, errors.New("no private key found (only ec parameters)")
	}
	return key, nil
}

func parseKeyBlock(blk *pem.Block) (crypto.Signer, error) {
	if blk.Type == blockEncPKCS8 || blk.Headers["Proc-Type"] == "4,ENCRYPTED" {
		return nil, errors.New("private key is encrypted; certagent needs an unencrypted key (decrypt it with: openssl pkey -in FILE -out FILE.new)")
	}
	var (
		k   any
		err error
	)
	switch blk.Type {
	case blockPKCS8:
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case blockPKCS1:
		k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	case blockSEC1:
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case blockCert:
		return nil, errors.New("found a certificate where a private key was expected (is this the cert file?)")
	default:
		return nil, fmt.Errorf("unsupported pem block %q (expected %q, %q or %q)", blk.Type, blockPKCS8, blockPKCS1, blockSEC1)
	}
	if err != nil {
		return nil, fmt.Errorf("bad %q block: %w", blk.Type, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T (supported: %s)", k, keyTypeList())
	}
	return s, nil
}

// EncodeCertsPEM encodes certificates as consecutive CERTIFICATE blocks.
func EncodeCertsPEM(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: blockCert, Bytes: c.Raw})
	}
	return buf.Bytes()
}

// ParseCertsPEM reads one or more certificates in file order. It is
// strict: every PEM block must be a CERTIFICATE (a private key in a cert
// file is an error, not something to skip), and DER, garbage, an empty
// input or a truncated block are errors.
func ParseCertsPEM(b []byte) ([]*x509.Certificate, error) {
	blocks, err := decodeBlocks(b, "certificate", "openssl x509 -inform der -in FILE -out FILE.pem")
	if err != nil {
		return nil, err
	}
	certs := make([]*x509.Certificate, 0, len(blocks))
	for i, blk := range blocks {
		if blk.Type != blockCert {
			return nil, fmt.Errorf("pem block %d is %q, expected %q (a cert file must hold certificates only)", i+1, blk.Type, blockCert)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", i+1, err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// decodeBlocks splits b into PEM blocks. Text around blocks is allowed,
// as openssl allows it, but a "-----BEGIN" that does not decode (a
// truncated or corrupted block) is an error rather than silently ignored.
func decodeBlocks(b []byte, what, convert string) ([]*pem.Block, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("empty input, expected a pem %s", what)
	}
	var blocks []*pem.Block
	rest := b
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		blocks = append(blocks, blk)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("pem block %d is malformed or truncated", len(blocks)+1)
	}
	if len(blocks) == 0 {
		if looksLikeDER(b) {
			return nil, fmt.Errorf("looks like DER, expected PEM (convert with: %s)", convert)
		}
		return nil, fmt.Errorf("no pem data found, expected a pem %s", what)
	}
	return blocks, nil
}

// looksLikeDER reports whether b starts like a DER SEQUENCE whose encoded
// length matches the input, which is how certs and keys are encoded.
func looksLikeDER(b []byte) bool {
	if len(b) < 2 || b[0] != 0x30 {
		return false
	}
	n, hdr := int(b[1]), 2
	if n&0x80 != 0 {
		octets := n & 0x7f
		if octets == 0 || octets > 4 || len(b) < 2+octets {
			return false
		}
		n = 0
		for _, o := range b[2 : 2+octets] {
			n = n<<8 | int(o)
		}
		hdr += octets
	}
	return hdr+n <= len(b)
}

// KeyMatches reports whether key is the private half of cert's public key.
func KeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	if cert == nil || key == nil {
		return false
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	return ok && pub.Equal(cert.PublicKey)
}

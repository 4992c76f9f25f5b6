// Package formats renders a freshly issued certificate and key into the
// shapes that ML systems expect: plain or password-encrypted private
// keys, PKCS#12 archives, single-file bundles, text templates and the
// MindIO TFT tls_info string. Every function is pure (no file access
// except ReadPassword) and no error ever contains a password.
package formats

import (
	"crypto"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/youmark/pkcs8"

	"github.com/certagent/certagent/agent/pki"
)

// PEM block type of an encrypted PKCS#8 key (RFC 5958).
const blockEncrypted = "ENCRYPTED PRIVATE KEY"

// PBKDF2Iterations is the work factor for encrypted keys. It is above
// OpenSSL 3's default (2048) and keeps a key load under a second on a
// small machine, which matters for services that decrypt at start-up.
const PBKDF2Iterations = 100_000

// encOpts is PBES2 with AES-256-CBC and PBKDF2-HMAC-SHA256, which
// OpenSSL 1.1.1+, Python's ssl module and Java read.
var encOpts = &pkcs8.Opts{
	Cipher: pkcs8.AES256CBC,
	KDFOpts: pkcs8.PBKDF2Opts{
		SaltSize:       16,
		IterationCount: PBKDF2Iterations,
		HMACHash:       crypto.SHA256,
	},
}

// EncodeKey encodes key as PEM in format (pkcs8, pkcs1 or sec1; "" means
// pkcs8). With a non-empty password the key is written as an encrypted
// PKCS#8 "ENCRYPTED PRIVATE KEY" block whatever the format, because
// PKCS#8 is the only standard encrypted form.
func EncodeKey(key crypto.Signer, format string, password []byte) ([]byte, error) {
	if len(password) == 0 {
		return pki.EncodeKeyPEM(key, format)
	}
	if format != "" && format != pki.FormatPKCS8 {
		return nil, fmt.Errorf("an encrypted key is always pkcs8, not %s (set key_format = \"pkcs8\")", format)
	}
	if key == nil {
		return nil, errors.New("encode key: no key")
	}
	der, err := pkcs8.MarshalPrivateKey(key, password, encOpts)
	if err != nil {
		return nil, fmt.Errorf("encrypt private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockEncrypted, Bytes: der}), nil
}

// DecodeKey reads a PEM private key. An encrypted PKCS#8 key is decrypted
// with password; a plain key is parsed by pki.ParseKeyPEM (password
// ignored). A wrong password gives an error that says so, without the
// password.
func DecodeKey(b []byte, password []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != blockEncrypted {
		return pki.ParseKeyPEM(b)
	}
	if len(password) == 0 {
		return nil, errors.New("private key is encrypted and no password is configured")
	}
	k, _, err := pkcs8.ParsePrivateKey(blk.Bytes, password)
	if err != nil {
		return nil, errors.New("cannot decrypt the private key: wrong password or damaged file")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

// IsEncrypted reports whether b starts with an encrypted PKCS#8 block.
func IsEncrypted(b []byte) bool {
	blk, _ := pem.Decode(b)
	return blk != nil && blk.Type == blockEncrypted
}

// Fingerprint is a short SHA-256 of data, for logs that must show that a
// secret changed without showing it.
func Fingerprint(data []byte) string {
	sum := sha256.Sum256(data)
	return fmt.Sprintf("%x", sum[:6])
}

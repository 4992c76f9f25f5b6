// Package pki holds the certificate and key primitives shared by the
// agent, the local CA and the ACME issuer: key generation, PEM encoding
// and the inspection of pairs on disk.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
)

// KeyType names a private key algorithm and size, as written in the config.
type KeyType string

// The key types certagent can generate.
const (
	KeyEC256   KeyType = "ec256"
	KeyEC384   KeyType = "ec384"
	KeyRSA2048 KeyType = "rsa2048"
	KeyRSA3072 KeyType = "rsa3072"
	KeyRSA4096 KeyType = "rsa4096"
	KeyEd25519 KeyType = "ed25519"
)

// KeyTypes lists every supported key type in the order documented to users.
var KeyTypes = []KeyType{KeyEC256, KeyEC384, KeyRSA2048, KeyRSA3072, KeyRSA4096, KeyEd25519}

// ParseKeyType checks that s names a supported key type. Matching is
// exact: the config contract spells key types in lower case.
func ParseKeyType(s string) (KeyType, error) {
	for _, kt := range KeyTypes {
		if string(kt) == s {
			return kt, nil
		}
	}
	if s == "" {
		return "", fmt.Errorf("empty key type (use one of %s)", keyTypeList())
	}
	return "", fmt.Errorf("unknown key type %q (use one of %s)", s, keyTypeList())
}

func keyTypeList() string {
	names := make([]string, len(KeyTypes))
	for i, kt := range KeyTypes {
		names[i] = string(kt)
	}
	return strings.Join(names, ", ")
}

// RSABits returns the modulus size of an RSA key type, or 0 for other types.
func (kt KeyType) RSABits() int {
	switch kt {
	case KeyRSA2048:
		return 2048
	case KeyRSA3072:
		return 3072
	case KeyRSA4096:
		return 4096
	}
	return 0
}

// GenerateKey makes a new private key of type kt from crypto/rand.
// RSA generation takes from milliseconds to seconds; callers that must
// honour cancellation run it in a goroutine.
func GenerateKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case KeyEC256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case KeyEC384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case KeyRSA2048, KeyRSA3072, KeyRSA4096:
		return rsa.GenerateKey(rand.Reader, kt.RSABits())
	case KeyEd25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	_, err := ParseKeyType(string(kt))
	return nil, err
}

// KeyTypeOf names the key type of a public key (a crypto.Signer is
// accepted too and its public half used). Keys certagent cannot generate,
// such as RSA-1024 or P-521, give an error naming what they are.
func KeyTypeOf(pub crypto.PublicKey) (KeyType, error) {
	if s, ok := pub.(crypto.Signer); ok {
		pub = s.Public()
	}
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return KeyEC256, nil
		case elliptic.P384():
			return KeyEC384, nil
		}
		return "", fmt.Errorf("unsupported ecdsa curve %s (supported: %s)", k.Curve.Params().Name, keyTypeList())
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); bits {
		case 2048, 3072, 4096:
			return KeyType(fmt.Sprintf("rsa%d", bits)), nil
		default:
			return "", fmt.Errorf("unsupported rsa key size %d bits (supported: %s)", bits, keyTypeList())
		}
	case ed25519.PublicKey:
		return KeyEd25519, nil
	case nil:
		return "", errors.New("no public key")
	}
	return "", fmt.Errorf("unsupported public key type %T (supported: %s)", pub, keyTypeList())
}

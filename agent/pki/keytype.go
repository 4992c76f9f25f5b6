// Package pki holds the certificate and key primitives shared by the
// agent, the local CA and the ACME issuer: key generation, PEM encoding
// and the inspection of pairs on disk.
package pki

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

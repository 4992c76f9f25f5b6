package agent

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// outputFiles renders a bundle into the cert's configured files, key
// first so that the journal renames the key before the cert.
func outputFiles(c *config.Cert, b *Bundle) ([]store.File, error) {
	key, err := pki.EncodeKeyPEM(b.Key, "pkcs8")
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	full := append([]*x509.Certificate{b.Leaf}, b.Chain...)
	chain := b.Chain
	if len(chain) == 0 {
		chain = b.Roots
	}
	file := func(path string, data []byte, mode os.FileMode) store.File {
		return store.File{Path: path, Data: data, Mode: mode, UID: c.UID, GID: c.GID,
			DirMode: c.DirMode.FileMode, FollowSymlinks: c.FollowSymlinks}
	}
	out := []store.File{
		file(c.KeyFile, key, c.Mode.FileMode),
		file(c.CertFile, pki.EncodeCertsPEM(b.Leaf), c.CertMode.FileMode),
	}
	if c.FullchainFile != "" {
		out = append(out, file(c.FullchainFile, pki.EncodeCertsPEM(full...), c.CertMode.FileMode))
	}
	if c.ChainFile != "" {
		out = append(out, file(c.ChainFile, pki.EncodeCertsPEM(chain...), c.CertMode.FileMode))
	}
	if c.CAFile != "" {
		if len(b.Roots) == 0 {
			return nil, errors.New("ca_file is set but the issuer returned no CA certificates")
		}
		out = append(out, file(c.CAFile, pki.EncodeCertsPEM(b.Roots...), c.CertMode.FileMode))
	}
	return out, nil
}

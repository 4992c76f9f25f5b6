package acme

import (
	"crypto/x509"
	"encoding/pem"
	"os"

	"github.com/certagent/certagent/agent"
)

// bundleRoots reads the self-signed CA certificates of ca_bundle. They
// are only ever used as a chain's root after a signature check (see
// rootFromBundle), never to trust anything new.
func bundleRoots(path string) []*x509.Certificate {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil // newHTTPClients already reported it
	}
	var roots []*x509.Certificate
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err == nil && c.IsCA && c.CheckSignatureFrom(c) == nil {
			roots = append(roots, c)
		}
	}
	return roots
}

// rootFromBundle fills b.Roots when the CA left its root out of the chain
// (step-ca does; RFC 8555 allows it) and a ca_bundle root signed the top
// of the chain. A private CA's root usually secures both its ACME server
// and its certificates, and without this ca_file (required by some
// presets) could never be written for such a CA.
func rootFromBundle(b *agent.Bundle, roots []*x509.Certificate) {
	if len(b.Roots) > 0 {
		return
	}
	top := b.Leaf
	if n := len(b.Chain); n > 0 {
		top = b.Chain[n-1]
	}
	for _, r := range roots {
		if top.CheckSignatureFrom(r) == nil {
			b.Roots = []*x509.Certificate{r}
			return
		}
	}
}

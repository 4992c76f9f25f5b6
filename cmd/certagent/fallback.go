package main

import (
	"crypto/x509"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
)

// issuerColumn is the status table's ISSUER: the issuer that issued the
// cert on disk, marked when it is a fallback rather than the primary.
func issuerColumn(r agent.CertStatus) string {
	if r.IssuedBy == "" || r.IssuedBy == r.Issuer {
		return r.Issuer
	}
	return r.IssuedBy + " (fallback)"
}

// listRoots are the roots `check --files` holds a cert to: those of every
// issuer of its list, since any of them may have issued the cert on disk;
// nil (no issuer check) when one of them cannot name its roots here (an
// ACME issuer, or a local CA not created yet).
func listRoots(cfg *config.Config, c *config.Cert) []*x509.Certificate {
	if len(c.IssuerList) <= 1 {
		return existingLocalRoots(cfg, c.Issuer)
	}
	var out []*x509.Certificate
	for _, name := range c.IssuerList {
		rs := existingLocalRoots(cfg, name)
		if len(rs) == 0 {
			return nil
		}
		out = append(out, rs...)
	}
	return out
}

package main

import "github.com/certagent/certagent/agent"

// issuerColumn is the status table's ISSUER: the issuer that issued the
// cert on disk, marked when it is a fallback rather than the primary.
func issuerColumn(r agent.CertStatus) string {
	if r.IssuedBy == "" || r.IssuedBy == r.Issuer {
		return r.Issuer
	}
	return r.IssuedBy + " (fallback)"
}

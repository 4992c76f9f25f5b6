package pki

import (
	"bytes"
	"crypto/x509"
	"slices"
	"time"
)

// Vouched is the fact that the signature of the certificate whose DER is
// Leaf was checked against the public key of CA. Only an issuer that
// signed Leaf in this process may state it (the local CA: Go's
// x509.CreateCertificate refuses a CA key that does not match its parent
// cert and checks the signature it has just made); a cert from a remote
// issuer is never vouched for.
type Vouched struct {
	Leaf []byte
	CA   *x509.Certificate
}

// provesIssuer reports whether v shows, without checking a signature,
// what x509.Verify would find for leaf with roots at time at: a valid
// chain from leaf straight to v.CA, one of roots. It answers false (check
// with Verify) for anything but that plain case: another leaf, a CA not
// among roots, either cert out of its validity at at or with unhandled
// critical extensions, a CA with name constraints, a leaf with policies
// or signed with an algorithm Verify refuses.
func (v *Vouched) provesIssuer(leaf *x509.Certificate, roots []*x509.Certificate, at time.Time) bool {
	if v == nil || v.CA == nil || !bytes.Equal(leaf.Raw, v.Leaf) {
		return false
	}
	ca := v.CA
	if !slices.ContainsFunc(roots, func(r *x509.Certificate) bool { return bytes.Equal(r.Raw, ca.Raw) }) {
		return false
	}
	if !bytes.Equal(leaf.RawIssuer, ca.RawSubject) || !ca.BasicConstraintsValid || !ca.IsCA {
		return false
	}
	switch leaf.SignatureAlgorithm { // CreateCertificate's check allows SHA-1; Verify does not
	case x509.SHA256WithRSA, x509.SHA384WithRSA, x509.SHA512WithRSA, x509.ECDSAWithSHA256,
		x509.ECDSAWithSHA384, x509.ECDSAWithSHA512, x509.SHA256WithRSAPSS, x509.SHA384WithRSAPSS,
		x509.SHA512WithRSAPSS, x509.PureEd25519:
	default:
		return false
	}
	for _, c := range []*x509.Certificate{leaf, ca} {
		if len(c.UnhandledCriticalExtensions) > 0 || at.Before(c.NotBefore) || at.After(c.NotAfter) {
			return false
		}
	}
	return !hasNameConstraints(ca) && !hasPolicies(leaf)
}

// hasNameConstraints reports whether c constrains the names below it
// (x509.Verify then checks the leaf's names against them).
func hasNameConstraints(c *x509.Certificate) bool {
	return len(c.PermittedDNSDomains)+len(c.ExcludedDNSDomains)+
		len(c.PermittedIPRanges)+len(c.ExcludedIPRanges)+
		len(c.PermittedEmailAddresses)+len(c.ExcludedEmailAddresses)+
		len(c.PermittedURIDomains)+len(c.ExcludedURIDomains) > 0
}

// hasPolicies reports whether c carries anything x509.Verify's policy
// validation of a two-cert chain looks at (the root's are not).
func hasPolicies(c *x509.Certificate) bool {
	return len(c.Policies) > 0 || len(c.PolicyIdentifiers) > 0 || len(c.PolicyMappings) > 0 ||
		c.RequireExplicitPolicy > 0 || c.RequireExplicitPolicyZero ||
		c.InhibitPolicyMapping > 0 || c.InhibitPolicyMappingZero ||
		c.InhibitAnyPolicy > 0 || c.InhibitAnyPolicyZero
}

package pki

import (
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// checkTimes reports expired or not yet valid certs in the file and
// returns whether any was found.
func (r *Report) checkTimes(file string, certs []*x509.Certificate, now time.Time) bool {
	bad := false
	for i, c := range certs {
		what := "certificate"
		if i > 0 {
			what = fmt.Sprintf("chain certificate %d (%s)", i+1, subjectName(c))
		}
		switch {
		case now.After(c.NotAfter):
			r.add(ProblemExpired, file, fmt.Sprintf("%s expired at %s", what, c.NotAfter.UTC().Format(time.RFC3339)))
			bad = true
		case now.Before(c.NotBefore):
			r.add(ProblemNotYetValid, file, fmt.Sprintf("%s is not valid before %s", what, c.NotBefore.UTC().Format(time.RFC3339)))
			bad = true
		}
	}
	return bad
}

func (r *Report) checkSANs(file string, exp Expect) {
	var missing []string
	for _, name := range exp.DNSNames {
		if !coversDNS(r.Leaf.DNSNames, name) {
			missing = append(missing, fmt.Sprintf("dns name %q", name))
		}
	}
	for _, ip := range exp.IPs {
		if !slices.ContainsFunc(r.Leaf.IPAddresses, ip.Equal) {
			missing = append(missing, fmt.Sprintf("ip %s", ip))
		}
	}
	if len(missing) > 0 {
		r.add(ProblemSANs, file, fmt.Sprintf("certificate does not cover %s (it has: %s)", strings.Join(missing, ", "), sanList(r.Leaf)))
	}
}

// coversDNS reports whether one of the cert's DNS SANs covers name:
// equal ignoring case and a trailing dot, or a "*." wildcard matching
// exactly one leftmost label. A wanted wildcard must be present literally.
func coversDNS(sans []string, name string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, s := range sans {
		s = strings.ToLower(strings.TrimSuffix(s, "."))
		if s == name {
			return true
		}
		if rest, ok := strings.CutPrefix(s, "*."); ok && !strings.HasPrefix(name, "*.") {
			if _, parent, found := strings.Cut(name, "."); found && parent == rest {
				return true
			}
		}
	}
	return false
}

func sanList(c *x509.Certificate) string {
	var all []string
	all = append(all, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		all = append(all, ip.String())
	}
	if len(all) == 0 {
		return "no sans"
	}
	return strings.Join(all, ", ")
}

func (r *Report) checkKeyPolicy(file string, exp Expect) {
	kt := r.KeyType
	name := string(kt)
	if name == "" {
		name = describePub(r.Leaf.PublicKey)
	}
	if exp.KeyType != "" && kt != exp.KeyType {
		r.add(ProblemKeyType, file, fmt.Sprintf("key type is %s, expected %s", name, exp.KeyType))
	}
	if len(exp.AllowedKeyTypes) > 0 && !slices.Contains(exp.AllowedKeyTypes, kt) {
		r.add(ProblemKeyType, file, fmt.Sprintf("key type %s is not in allowed_key_types (%s)", name, joinKeyTypes(exp.AllowedKeyTypes)))
	}
	if pub, ok := r.Leaf.PublicKey.(*rsa.PublicKey); ok && exp.MinRSABits > 0 && pub.N.BitLen() < exp.MinRSABits {
		r.add(ProblemWeakKey, file, fmt.Sprintf("rsa key is %d bits, below min_rsa_bits %d", pub.N.BitLen(), exp.MinRSABits))
	}
}

func describePub(pub crypto.PublicKey) string {
	if k, ok := pub.(*rsa.PublicKey); ok {
		return fmt.Sprintf("rsa%d", k.N.BitLen())
	}
	if _, err := KeyTypeOf(pub); err != nil {
		return strings.TrimPrefix(err.Error(), "unsupported ")
	}
	return fmt.Sprintf("%T", pub)
}

func joinKeyTypes(kts []KeyType) string {
	s := make([]string, len(kts))
	for i, kt := range kts {
		s[i] = string(kt)
	}
	return strings.Join(s, ", ")
}

// checkSignatures flags SHA-1 (and older) signatures on every cert in the
// file except self-signed roots, whose signature nobody relies on.
func (r *Report) checkSignatures(file string, certs []*x509.Certificate) {
	for i, c := range certs {
		if i > 0 && selfSigned(c) {
			continue
		}
		switch c.SignatureAlgorithm {
		case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1, x509.MD5WithRSA, x509.MD2WithRSA:
			what := "certificate"
			if i > 0 {
				what = fmt.Sprintf("chain certificate %d (%s)", i+1, subjectName(c))
			}
			r.add(ProblemSHA1, file, fmt.Sprintf("%s is signed with %s, which tls clients reject", what, strings.ToLower(c.SignatureAlgorithm.String())))
		}
	}
}

// checkOrder requires each cert to be issued by the next one. It compares
// names and key identifiers rather than signatures, so that a SHA-1
// signature is reported as such and not as a wrong order.
func (r *Report) checkOrder(file string, certs []*x509.Certificate) {
	for i := 0; i+1 < len(certs); i++ {
		child, parent := certs[i], certs[i+1]
		if !issuedBy(child, parent) {
			r.add(ProblemChainOrder, file, fmt.Sprintf("certificate %d (%s) is not the issuer of certificate %d (%s); the file must hold the leaf first, then each issuer in turn",
				i+2, subjectName(parent), i+1, subjectName(child)))
			return
		}
	}
}

func issuedBy(child, parent *x509.Certificate) bool {
	if string(child.RawIssuer) != string(parent.RawSubject) {
		return false
	}
	if len(child.AuthorityKeyId) > 0 && len(parent.SubjectKeyId) > 0 {
		return string(child.AuthorityKeyId) == string(parent.SubjectKeyId)
	}
	return true
}

// selfSigned compares names and key ids only: CheckSignatureFrom refuses
// SHA-1, and a SHA-1 root is exactly the case this must recognise.
func selfSigned(c *x509.Certificate) bool { return issuedBy(c, c) }

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return "cn=" + c.Subject.CommonName
	}
	if s := c.Subject.String(); s != "" {
		return strings.ToLower(s)
	}
	return "empty subject"
}

// checkIssuer verifies the leaf up to one of roots, with the file's other
// certs as intermediates. When a cert in the file is already reported as
// expired or not yet valid, it verifies at a time when every cert in the
// file is valid, so that this check reports only who issued the leaf.
func (r *Report) checkIssuer(file string, exp Expect, now time.Time, timeBad bool) {
	roots := exp.Roots
	pool := x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	inter := x509.NewCertPool()
	for _, c := range r.Chain {
		inter.AddCert(c)
	}
	at := now
	if timeBad {
		at = commonValidity(append([]*x509.Certificate{r.Leaf}, r.Chain...), now)
	}
	if exp.Vouched.provesIssuer(r.Leaf, roots, at) {
		return
	}
	_, err := r.Leaf.Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		detail := "not issued by the configured issuer: " + strings.TrimPrefix(err.Error(), "x509: ")
		if len(roots) == 0 {
			detail = "not issued by the configured issuer (its ca does not exist yet)"
		}
		r.add(ProblemIssuer, file, detail)
	}
}

// commonValidity returns the middle of the window in which all certs are
// valid, or now when they share no such window.
func commonValidity(certs []*x509.Certificate, now time.Time) time.Time {
	from, to := certs[0].NotBefore, certs[0].NotAfter
	for _, c := range certs[1:] {
		if c.NotBefore.After(from) {
			from = c.NotBefore
		}
		if c.NotAfter.Before(to) {
			to = c.NotAfter
		}
	}
	if !from.Before(to) {
		return now
	}
	return from.Add(to.Sub(from) / 2)
}

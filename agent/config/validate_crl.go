package config

import (
	"net/url"
	"time"
)

// minCRLValidity keeps a CRL alive long enough to be fetched and
// re-signed at half its life by a daemon that wakes at least hourly.
const minCRLValidity = time.Hour

// crlIssuer checks a local issuer's crl_validity and crl_url.
func (v *validator) crlIssuer(is *Issuer, at func(string, *valueError)) {
	switch {
	case is.CRLValidity.Duration < minCRLValidity:
		at("crl_validity", badValue(`use at least "1h"; the default is "7d"`, "crl_validity %s is shorter than 1h", is.CRLValidity.Duration))
	case is.CRLValidity.Set && is.CRLValidity.Duration > is.Validity.Duration:
		at("crl_validity", badValue("use a crl_validity shorter than the CA's validity", "crl_validity %s outlives the CA (%s)", is.CRLValidity.Duration, is.Validity.Duration))
	}
	if is.CRLURL != "" {
		u, err := url.Parse(is.CRLURL)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			at("crl_url", badValue(`use an http URL where the CRL is served, e.g. "http://ca.example.com/ca.crl"`, "bad crl_url %s", quoteShort(is.CRLURL)))
		}
	}
}

// crl checks crl_file and crl_action. Whether the issuer can provide a
// CRL for the cert is known only once it is issued (an ACME CA names one
// in its leaves, or not): the agent reports that in status.
func (v *validator) crl(ct *Cert, at func(string, *valueError)) {
	if ct.CRLFile == "" {
		if ct.CRLAction != "" {
			at("crl_action", badValue("remove it, or set crl_file", "crl_action only applies with crl_file"))
		}
		return
	}
	at("crl_file", checkPath(ct.CRLFile))
	if ct.CRLAction != CRLActionNone {
		at("crl_action", oneOf(ct.CRLAction, "crl_action", append([]string{CRLActionNone}, actions...)))
	}
}

// sharedCRL reports whether two uses of one path are the crl_file of two
// certs of the same issuer: they receive the same CRL, so sharing the
// file is the one duplicate output allowed.
func (v *validator) sharedCRL(a, b pathUse) bool {
	if a.kind != "cert" || b.kind != "cert" || a.key != "crl_file" || b.key != "crl_file" || a.name == b.name {
		return false
	}
	ca, cb := v.c.Certs[a.name], v.c.Certs[b.name]
	return ca != nil && cb != nil && ca.Issuer == cb.Issuer
}

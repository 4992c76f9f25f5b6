package config

import (
	"reflect"
	"testing"
)

// TestIssuerListForms: issuer takes one name or an ordered list; both
// end as IssuerList with Issuer its first entry, and a list mixing ACME
// and a local CA accepts validity (the local CA honours it) while still
// holding common_name to the ACME rule.
func TestIssuerListForms(t *testing.T) {
	const base = `
[issuers.le]
type = "acme"
directory = "https://acme-v02.api.letsencrypt.org/directory"
[issuers.internal]
type = "local"
[certs.one]
issuer = "le"
dns_names = ["one.example.com"]
cert_file = "/etc/one/cert.pem"
key_file = "/etc/one/key.pem"
[certs.two]
issuer = ["le", "internal"]
validity = "30d"
fallback_wait = "25%"
dns_names = ["two.example.com"]
cert_file = "/etc/two/cert.pem"
key_file = "/etc/two/key.pem"
`
	c, err := Parse("f.toml", []byte(base), Options{SkipFileChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	one, two := c.Certs["one"], c.Certs["two"]
	if one.Issuer != "le" || !reflect.DeepEqual([]string(one.IssuerList), []string{"le"}) || one.FallbackWaitFraction != 0.10 {
		t.Errorf("single issuer: Issuer %q, list %v, fallback_wait %v", one.Issuer, one.IssuerList, one.FallbackWaitFraction)
	}
	if two.Issuer != "le" || !reflect.DeepEqual([]string(two.IssuerList), []string{"le", "internal"}) || two.FallbackWaitFraction != 0.25 {
		t.Errorf("list: Issuer %q, list %v, fallback_wait %v", two.Issuer, two.IssuerList, two.FallbackWaitFraction)
	}
	bad := base + "common_name = \"other.example.com\"\n"
	if _, err := Parse("f.toml", []byte(bad), Options{SkipFileChecks: true}); err == nil {
		t.Error("a common name outside the SANs was accepted for a list with an ACME issuer")
	}
}

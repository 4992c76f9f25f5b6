//go:build dnsrfc2136 && !dnsall

package acme

import (
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/rfc2136"
)

// lego's rfc2136 adds GSS-TSIG, whose Kerberos libraries every user of the
// default build would pay for in binary size and resident pages (see
// defaultDNSProviders); -tags dnsrfc2136 puts it in place of the in-house
// HMAC-TSIG provider (rfc2136.go).
func init() {
	defaultDNSProviders["rfc2136"] = func() (challenge.Provider, error) { return rfc2136.NewDNSProvider() }
}

//go:build dnsrfc2136 && !dnsall

package acme

import (
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/rfc2136"
)

// rfc2136 links Kerberos for GSS-TSIG, which every user of the default
// build would pay for in binary size and resident pages (see
// defaultDNSProviders); -tags dnsrfc2136 adds it to the default providers.
func init() {
	defaultDNSProviders["rfc2136"] = func() (challenge.Provider, error) { return rfc2136.NewDNSProvider() }
}

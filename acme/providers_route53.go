//go:build dnsroute53 && !dnsall

package acme

import (
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/route53"
)

// route53 links the AWS SDK, which every user of the default build would
// pay for at start-up (see defaultDNSProviders); -tags dnsroute53 adds it
// to the default providers.
func init() {
	defaultDNSProviders["route53"] = func() (challenge.Provider, error) { return route53.NewDNSProvider() }
}

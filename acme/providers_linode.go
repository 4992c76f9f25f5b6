//go:build dnslinode && !dnsall

package acme

import (
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/linode"
)

// linode links linodego, which every user
// of the default build would pay for in binary size and resident pages
// (see defaultDNSProviders); -tags dnslinode adds it to the default
// providers.
func init() {
	defaultDNSProviders["linode"] = func() (challenge.Provider, error) { return linode.NewDNSProvider() }
}

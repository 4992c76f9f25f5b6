//go:build dnsroute53 && !dnsall

package acme

import "testing"

func TestRoute53BuildKnowsRoute53(t *testing.T) {
	if !KnownDNSProvider("route53") || !KnownDNSProvider("cloudflare") {
		t.Fatal("-tags dnsroute53 must add route53 to the default providers")
	}
}

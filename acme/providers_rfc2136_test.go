//go:build dnsrfc2136 && !dnsall

package acme

import "testing"

func TestRFC2136BuildKnowsRFC2136(t *testing.T) {
	if !KnownDNSProvider("rfc2136") || !KnownDNSProvider("cloudflare") {
		t.Fatal("-tags dnsrfc2136 must add rfc2136 to the default providers")
	}
}

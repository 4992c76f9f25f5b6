//go:build dnslinode && !dnsall

package acme

import "testing"

func TestLinodeBuildKnowsLinode(t *testing.T) {
	if !KnownDNSProvider("linode") || !KnownDNSProvider("cloudflare") {
		t.Fatal("-tags dnslinode must add linode to the default providers")
	}
}

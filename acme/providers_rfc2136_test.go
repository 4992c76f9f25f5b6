//go:build dnsrfc2136 && !dnsall

package acme

import (
	"testing"

	"github.com/go-acme/lego/v4/providers/dns/rfc2136"
)

// -tags dnsrfc2136 swaps the in-house rfc2136 for lego's, which adds GSS-TSIG.
func TestRFC2136BuildUsesLegos(t *testing.T) {
	f, ok := lookupDNSProvider("rfc2136")
	if !ok || !KnownDNSProvider("cloudflare") {
		t.Fatal("-tags dnsrfc2136 must keep rfc2136 and the default providers")
	}
	t.Setenv("RFC2136_NAMESERVER", "127.0.0.1")
	p, err := f()
	if err != nil {
		t.Fatal(err)
	}
	if _, legos := p.(*rfc2136.DNSProvider); !legos {
		t.Fatalf("-tags dnsrfc2136 built %T, want lego's provider", p)
	}
}

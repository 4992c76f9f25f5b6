//go:build !dnsall && !dnsroute53

package acme

import (
	"strings"
	"testing"
)

// The default build leaves the AWS SDK out; the error for route53 says
// which build has it.
func TestDefaultBuildLeavesRoute53Out(t *testing.T) {
	if KnownDNSProvider("route53") {
		t.Fatal("route53 is in the default build")
	}
	if h := dnsProviderHint(); !strings.Contains(h, "-tags dnsroute53") || !strings.Contains(h, "cloudflare") {
		t.Fatalf("hint %q does not say how to get route53", h)
	}
}

//go:build !dnsall && !dnsroute53

package acme

import (
	"testing"
)

// The default build leaves the AWS SDK out (agent/config's error for an
// unknown provider says which build has it) and keeps the others.
func TestDefaultBuildLeavesRoute53Out(t *testing.T) {
	if KnownDNSProvider("route53") {
		t.Fatal("route53 is in the default build")
	}
	if !KnownDNSProvider("cloudflare") {
		t.Fatal("cloudflare left the default build")
	}
}

//go:build !dnsall && !dnsroute53 && !dnslinode && !dnsrfc2136

package acme

import (
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/config"
)

// The default build leaves the AWS SDK, linodego and rfc2136's Kerberos out (agent/config's
// error for an unknown provider says which build has them) and keeps the
// others.
func TestDefaultBuildLeavesTaggedProvidersOut(t *testing.T) {
	for _, name := range []string{"route53", "linode", "rfc2136"} {
		if KnownDNSProvider(name) {
			t.Errorf("%s is in the default build", name)
		}
	}
	if !KnownDNSProvider("cloudflare") {
		t.Fatal("cloudflare left the default build")
	}
}

// A config naming a provider the default build leaves out fails at
// validation with the build tag that brings it in.
func TestConfigNamesTagOfLeftOutProvider(t *testing.T) {
	for name, tag := range map[string]string{"route53": "-tags dnsroute53", "linode": "-tags dnslinode", "rfc2136": "-tags dnsrfc2136"} {
		doc := "[issuers.le]\ntype = \"acme\"\ndirectory = \"https://ca.example/dir\"\nchallenge = \"dns-01\"\ndns_provider = \"" + name + "\"\n"
		_, err := config.Parse("t.toml", []byte(doc), config.Options{KnownDNSProvider: KnownDNSProvider})
		if err == nil || !strings.Contains(err.Error(), `unknown dns provider "`+name+`"`) || !strings.Contains(err.Error(), name+" "+tag) && !strings.Contains(err.Error(), name+" needs "+tag) {
			t.Errorf("dns_provider = %q: got %v, want an error naming %s", name, err, tag)
		}
	}
}

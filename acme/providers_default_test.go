//go:build !dnsall && !dnsroute53 && !dnslinode && !dnsrfc2136

package acme

import (
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/config"
)

// The default build leaves the AWS SDK and linodego out (agent/config's
// error for an unknown provider says which build has them) and keeps the
// others, rfc2136 as the in-house HMAC-TSIG provider.
func TestDefaultBuildLeavesTaggedProvidersOut(t *testing.T) {
	for _, name := range []string{"route53", "linode"} {
		if KnownDNSProvider(name) {
			t.Errorf("%s is in the default build", name)
		}
	}
	if !KnownDNSProvider("cloudflare") {
		t.Fatal("cloudflare left the default build")
	}
	f, ok := lookupDNSProvider("rfc2136")
	if !ok {
		t.Fatal("rfc2136 left the default build")
	}
	t.Setenv("RFC2136_NAMESERVER", "127.0.0.1")
	p, err := f()
	if err != nil {
		t.Fatal(err)
	}
	if _, ours := p.(*rfc2136Provider); !ours {
		t.Fatalf("the default build's rfc2136 is %T, want the in-house provider", p)
	}
}

// A config naming a provider the default build leaves out fails at
// validation with the build tag that brings it in.
func TestConfigNamesTagOfLeftOutProvider(t *testing.T) {
	for name, tag := range map[string]string{"route53": "-tags dnsroute53", "linode": "-tags dnslinode"} {
		doc := "[issuers.le]\ntype = \"acme\"\ndirectory = \"https://ca.example/dir\"\nchallenge = \"dns-01\"\ndns_provider = \"" + name + "\"\n"
		_, err := config.Parse("t.toml", []byte(doc), config.Options{KnownDNSProvider: KnownDNSProvider})
		if err == nil || !strings.Contains(err.Error(), `unknown dns provider "`+name+`"`) || !strings.Contains(err.Error(), name+" "+tag) && !strings.Contains(err.Error(), name+" needs "+tag) {
			t.Errorf("dns_provider = %q: got %v, want an error naming %s", name, err, tag)
		}
	}
}

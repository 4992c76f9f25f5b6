//go:build dnsall

package acme

import (
	"strings"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns"
)

// AllDNSProviders is true in builds with the dnsall tag, which link every
// DNS provider lego knows (see docs/acme.md for the cost).
const AllDNSProviders = true

// lookupDNSProvider asks lego's registry. To learn whether a name is
// known without credentials it calls the constructor under envMu and
// looks for lego's "unrecognized DNS provider" error: a known provider
// fails on missing credentials (or succeeds) instead. Constructors only
// read the environment; none contacts the network.
func lookupDNSProvider(name string) (func() (challenge.Provider, error), bool) {
	ctor := func() (challenge.Provider, error) { return dns.NewDNSChallengeProviderByName(name) }
	envMu.Lock()
	_, err := ctor()
	envMu.Unlock()
	if err != nil && strings.HasPrefix(err.Error(), "unrecognized DNS provider") {
		return nil, false
	}
	return ctor, true
}

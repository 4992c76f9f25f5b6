//go:build !dnsall

package acme

import (
	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/providers/dns/acmedns"
	"github.com/go-acme/lego/v4/providers/dns/cloudflare"
	"github.com/go-acme/lego/v4/providers/dns/desec"
	"github.com/go-acme/lego/v4/providers/dns/digitalocean"
	"github.com/go-acme/lego/v4/providers/dns/exec"
	"github.com/go-acme/lego/v4/providers/dns/gandiv5"
	"github.com/go-acme/lego/v4/providers/dns/hetzner"
	"github.com/go-acme/lego/v4/providers/dns/httpreq"
	"github.com/go-acme/lego/v4/providers/dns/ovh"
	"github.com/go-acme/lego/v4/providers/dns/pdns"
)

// AllDNSProviders is true in builds with the dnsall tag, which link every
// DNS provider lego knows (see docs/acme.md for the cost).
const AllDNSProviders = false

// defaultDNSProviders are the providers of the default build, by lego's
// names: the common hosted DNS services plus the generic ones (exec,
// httpreq, acme-dns, pdns) that reach almost anything else.
// route53 is not among them: the AWS SDK's 84 packages cost every user
// 5.8 MB of binary and about 2 MiB of resident memory at idle (their init
// and the binary pages it touches); it comes with -tags dnsroute53
// (providers_route53.go) or dnsall. linode is not among them either:
// linodego costs 2.8 MB of binary and about 1.3 MiB of resident binary
// pages at idle (its API client has hundreds of types, and since
// text/template, which output templates use, calls methods by name, the
// linker keeps every exported method of them); it comes with -tags
// dnslinode (providers_linode.go) or dnsall. rfc2136 is certagent's own
// HMAC-TSIG provider (rfc2136.go, registered by providers_rfc2136_hmac.go):
// lego's adds GSS-TSIG, whose Kerberos (gokrb5, about 40 packages) cost
// 1.3 MB of binary and about 1.3 MiB of resident binary pages at idle; it
// comes with -tags dnsrfc2136 (providers_rfc2136.go) or dnsall.
var defaultDNSProviders = map[string]func() (challenge.Provider, error){
	"acme-dns":     func() (challenge.Provider, error) { return acmedns.NewDNSProvider() },
	"acmedns":      func() (challenge.Provider, error) { return acmedns.NewDNSProvider() },
	"cloudflare":   func() (challenge.Provider, error) { return cloudflare.NewDNSProvider() },
	"desec":        func() (challenge.Provider, error) { return desec.NewDNSProvider() },
	"digitalocean": func() (challenge.Provider, error) { return digitalocean.NewDNSProvider() },
	"exec":         func() (challenge.Provider, error) { return exec.NewDNSProvider() },
	"gandiv5":      func() (challenge.Provider, error) { return gandiv5.NewDNSProvider() },
	"hetzner":      func() (challenge.Provider, error) { return hetzner.NewDNSProvider() },
	"httpreq":      func() (challenge.Provider, error) { return httpreq.NewDNSProvider() },
	"ovh":          func() (challenge.Provider, error) { return ovh.NewDNSProvider() },
	"pdns":         func() (challenge.Provider, error) { return pdns.NewDNSProvider() },
}

func lookupDNSProvider(name string) (func() (challenge.Provider, error), bool) {
	f, ok := defaultDNSProviders[name]
	return f, ok
}

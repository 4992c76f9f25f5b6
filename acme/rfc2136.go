package acme

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/miekg/dns"
)

// rfc2136Provider answers dns-01 with RFC 2136 dynamic updates signed with
// an HMAC TSIG key. It is the default build's "rfc2136": lego's provider
// also speaks GSS-TSIG, whose Kerberos libraries cost every user of the
// default build 1.3 MB of binary and about 1.3 MiB resident at idle, so
// that one comes only with -tags dnsrfc2136 or dnsall. miekg/dns is linked
// by lego's dns01 anyway.
type rfc2136Provider struct {
	cfg rfc2136Config
}

var (
	_ challenge.Provider        = (*rfc2136Provider)(nil)
	_ challenge.ProviderTimeout = (*rfc2136Provider)(nil)
)

// newRFC2136Provider reads the process environment (set from dns_env_file
// under envMu by newDNSProvider).
func newRFC2136Provider() (challenge.Provider, error) {
	cfg, err := parseRFC2136Config(rfc2136FromEnviron)
	if err != nil {
		return nil, fmt.Errorf("rfc2136: %w", err)
	}
	return &rfc2136Provider{cfg: cfg}, nil
}

// Timeout is how long lego waits for the record to propagate, and how often
// it looks.
func (p *rfc2136Provider) Timeout() (timeout, interval time.Duration) {
	return p.cfg.propagationTimeout, p.cfg.pollingInterval
}

// Sequential makes lego solve one challenge at a time, as lego's own
// rfc2136 provider does, waiting RFC2136_SEQUENCE_INTERVAL between them.
func (p *rfc2136Provider) Sequential() time.Duration { return p.cfg.sequenceInterval }

// Present adds the challenge's TXT value. It adds to the RRset rather than
// replacing it, so two orders for the same name (a name and its wildcard)
// do not remove each other's value.
func (p *rfc2136Provider) Present(domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	if err := p.update(info.EffectiveFQDN, info.Value, true); err != nil {
		return fmt.Errorf("rfc2136: add TXT %s: %w", info.EffectiveFQDN, err)
	}
	return nil
}

// CleanUp removes exactly the value Present added, leaving any other TXT
// value of the name alone.
func (p *rfc2136Provider) CleanUp(domain, _, keyAuth string) error {
	info := dns01.GetChallengeInfo(domain, keyAuth)
	if err := p.update(info.EffectiveFQDN, info.Value, false); err != nil {
		return fmt.Errorf("rfc2136: remove TXT %s: %w", info.EffectiveFQDN, err)
	}
	return nil
}

func (p *rfc2136Provider) update(fqdn, value string, add bool) error {
	zone, err := p.findZone(fqdn)
	if err != nil {
		return err
	}
	rr := []dns.RR{&dns.TXT{
		Hdr: dns.RR_Header{Name: fqdn, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: uint32(p.cfg.ttl)},
		Txt: []string{value},
	}}
	m := new(dns.Msg).SetUpdate(zone)
	if add {
		m.Insert(rr)
	} else {
		m.Remove(rr)
	}
	c := &dns.Client{Timeout: p.cfg.dnsTimeout}
	if p.cfg.keyName != "" {
		m.SetTsig(p.cfg.keyName, p.cfg.algorithm, 300, time.Now().Unix())
		c.TsigSecret = map[string]string{p.cfg.keyName: p.cfg.secret}
	}
	reply, _, err := c.Exchange(m, p.cfg.nameserver)
	if reply != nil && reply.Rcode != dns.RcodeSuccess {
		return rfc2136Refused(p.cfg.nameserver, zone, reply)
	}
	if err != nil {
		if errors.Is(err, dns.ErrSig) || errors.Is(err, dns.ErrSecret) {
			return fmt.Errorf("update of zone %s at %s: the reply's TSIG does not verify (wrong key or secret?): %w", zone, p.cfg.nameserver, err)
		}
		return fmt.Errorf("update of zone %s at %s: %w", zone, p.cfg.nameserver, err)
	}
	return nil
}

// rfc2136Refused names the server's rcode and, when the server rejected
// the signature, its TSIG error (BADSIG, BADKEY, BADTIME).
func rfc2136Refused(ns, zone string, reply *dns.Msg) error {
	msg := dns.RcodeToString[reply.Rcode]
	if t := reply.IsTsig(); t != nil && t.Error != dns.RcodeSuccess {
		msg += "/" + dns.RcodeToString[int(t.Error)]
	}
	return fmt.Errorf("server %s refused the update of zone %s: %s", ns, zone, msg)
}

// findZone picks the longest of RFC2136_ZONES that holds fqdn or, without
// that list, asks the update server for the SOA the way lego does.
func (p *rfc2136Provider) findZone(fqdn string) (string, error) {
	if len(p.cfg.zones) == 0 {
		return dns01.FindZoneByFqdnCustom(fqdn, []string{p.cfg.nameserver})
	}
	best := ""
	name := dns.CanonicalName(fqdn)
	for _, z := range p.cfg.zones {
		if dns.IsSubDomain(z, name) && len(z) > len(best) {
			best = z
		}
	}
	if best == "" {
		return "", fmt.Errorf("no zone of RFC2136_ZONES (%s) holds %s", strings.Join(p.cfg.zones, ","), fqdn)
	}
	return best, nil
}

package acme

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/go-acme/lego/v4/platform/config/env"
	"github.com/miekg/dns"
)

// rfc2136Config is the in-house rfc2136 provider's settings, read from the
// variables lego documents for its rfc2136 (dnsupdate) provider.
type rfc2136Config struct {
	nameserver string   // host:port
	zones      []string // fully qualified; empty: ask the nameserver for the SOA
	keyName    string   // canonical (lowercase, fully qualified); "" means no TSIG
	algorithm  string   // one of miekg/dns's HMAC names, fully qualified
	secret     string   // base64; never logged or put in an error

	ttl                int
	propagationTimeout time.Duration
	pollingInterval    time.Duration
	sequenceInterval   time.Duration
	dnsTimeout         time.Duration
}

// rfc2136Getenv returns the value of a variable by its name after the
// DNSUPDATE_/RFC2136_ prefix: lego v4.35 reads DNSUPDATE_X first and
// RFC2136_X as its older alias; both honour lego's X_FILE indirection.
type rfc2136Getenv func(suffix string) (name, value string)

func rfc2136FromEnviron(suffix string) (string, string) {
	for _, prefix := range []string{"DNSUPDATE_", "RFC2136_"} {
		if v := env.GetOrFile(prefix + suffix); v != "" {
			return prefix + suffix, v
		}
	}
	return "RFC2136_" + suffix, ""
}

// rfc2136HMAC are the TSIG algorithms miekg/dns implements; GSS-TSIG needs
// Kerberos, which only lego's provider (-tags dnsrfc2136 or dnsall) links.
var rfc2136HMAC = []string{dns.HmacSHA1, dns.HmacSHA224, dns.HmacSHA256, dns.HmacSHA384, dns.HmacSHA512}

const rfc2136GSSTag = "GSS-TSIG (Kerberos) is not in the default build: build certagent with -tags dnsrfc2136 or dnsall"

// parseRFC2136Config reads and checks the settings. Errors name the
// variable, never its value, since some of them hold the TSIG secret.
func parseRFC2136Config(get rfc2136Getenv) (rfc2136Config, error) {
	c := rfc2136Config{algorithm: dns.HmacSHA1}
	var err error
	if c.nameserver, err = rfc2136Nameserver(get); err != nil {
		return c, err
	}
	if _, v := get("ZONES"); v != "" {
		for z := range strings.SplitSeq(v, ",") {
			if z = strings.TrimSpace(z); z != "" {
				c.zones = append(c.zones, dns.CanonicalName(z))
			}
		}
	}
	if err = rfc2136TSIG(get, &c); err != nil {
		return c, err
	}
	ints := []struct {
		suffix string
		def    int
		dst    *int
	}{{"TTL", dns01.DefaultTTL, &c.ttl}}
	for _, f := range ints {
		if *f.dst, err = rfc2136Int(get, f.suffix, f.def); err != nil {
			return c, err
		}
	}
	secs := []struct {
		suffix string
		def    time.Duration
		dst    *time.Duration
	}{
		{"PROPAGATION_TIMEOUT", dns01.DefaultPropagationTimeout, &c.propagationTimeout},
		{"POLLING_INTERVAL", dns01.DefaultPollingInterval, &c.pollingInterval},
		{"SEQUENCE_INTERVAL", dns01.DefaultPropagationTimeout, &c.sequenceInterval},
		{"DNS_TIMEOUT", 10 * time.Second, &c.dnsTimeout},
	}
	for _, f := range secs {
		n, err := rfc2136Int(get, f.suffix, int(f.def/time.Second))
		if err != nil {
			return c, err
		}
		*f.dst = time.Duration(n) * time.Second
	}
	if _, v := get("PROPAGATION_TIMEOUT"); v == "" {
		// lego v0's name for the propagation timeout, still read by lego.
		n, err := rfc2136Int(get, "TIMEOUT", int(c.propagationTimeout/time.Second))
		if err != nil {
			return c, err
		}
		c.propagationTimeout = time.Duration(n) * time.Second
	}
	return c, nil
}

func rfc2136Nameserver(get rfc2136Getenv) (string, error) {
	name, ns := get("NAMESERVER")
	if ns == "" {
		return "", errors.New("RFC2136_NAMESERVER (or DNSUPDATE_NAMESERVER) is required: the server that takes the updates, host or host:port")
	}
	if _, _, err := net.SplitHostPort(ns); err == nil {
		return ns, nil
	}
	host := strings.TrimSuffix(strings.TrimPrefix(ns, "["), "]")
	if host == "" || strings.ContainsAny(host, "/ ") || (strings.Contains(host, ":") && net.ParseIP(host) == nil) {
		return "", fmt.Errorf("%s: want host or host:port, got %q", name, ns)
	}
	return net.JoinHostPort(host, "53"), nil
}

// rfc2136TSIG sets the key from TSIG_FILE (a BIND key file, as tsig-keygen
// writes it) or from TSIG_KEY and TSIG_SECRET; neither means no TSIG.
func rfc2136TSIG(get rfc2136Getenv, c *rfc2136Config) error {
	for _, s := range []string{"TSIG_GSS_REALM", "TSIG_GSS_USERNAME", "TSIG_GSS_PASSWORD", "TSIG_GSS_KEYTAB_FILE"} {
		if name, v := get(s); v != "" {
			return fmt.Errorf("%s is set: %s", name, rfc2136GSSTag)
		}
	}
	_, key := get("TSIG_KEY")
	_, secret := get("TSIG_SECRET")
	_, alg := get("TSIG_ALGORITHM")
	if fileVar, file := get("TSIG_FILE"); file != "" {
		if key != "" || secret != "" {
			return fmt.Errorf("%s and TSIG_KEY/TSIG_SECRET are both set: use one", fileVar)
		}
		k, err := readBINDKeyFile(file)
		if err != nil {
			return fmt.Errorf("%s: %w", fileVar, err)
		}
		key, secret = k.name, k.secret
		if k.algorithm != "" {
			alg = k.algorithm
		}
	}
	if alg != "" {
		c.algorithm = dns.CanonicalName(alg)
	}
	if c.algorithm == "gss-tsig." {
		return errors.New(rfc2136GSSTag)
	}
	known := false
	for _, a := range rfc2136HMAC {
		known = known || a == c.algorithm
	}
	if !known {
		return fmt.Errorf("unsupported TSIG algorithm %q: want one of %s", alg, strings.Join(rfc2136HMAC, ", "))
	}
	switch {
	case key == "" && secret == "":
		return nil
	case key == "" || secret == "":
		return errors.New("RFC2136_TSIG_KEY and RFC2136_TSIG_SECRET must be set together (or neither, for no TSIG)")
	}
	if _, err := base64.StdEncoding.DecodeString(secret); err != nil {
		return errors.New("the TSIG secret is not valid base64")
	}
	c.keyName, c.secret = dns.CanonicalName(key), secret
	return nil
}

func rfc2136Int(get rfc2136Getenv, suffix string, def int) (int, error) {
	name, v := get(suffix)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s: want a whole number of seconds, got %q", name, v)
	}
	return n, nil
}

type bindKey struct{ name, algorithm, secret string }

// readBINDKeyFile reads the first key clause of a BIND key file:
//
//	key "name" { algorithm hmac-sha256; secret "base64"; };
func readBINDKeyFile(path string) (bindKey, error) {
	var k bindKey
	b, err := os.ReadFile(path)
	if err != nil {
		return k, err
	}
	// Tokens: words, with { } ; as their own tokens; # and // start comments.
	var toks []string
	for line := range strings.Lines(string(b)) {
		if i := strings.IndexAny(line, "#"); i >= 0 {
			line = line[:i]
		}
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		line = strings.NewReplacer("{", " { ", "}", " } ", ";", " ; ").Replace(line)
		toks = append(toks, strings.Fields(line)...)
	}
	unq := func(s string) string { return strings.Trim(s, `"`) }
	for i := 0; i+2 < len(toks); i++ {
		if toks[i] != "key" || toks[i+2] != "{" {
			continue
		}
		k.name = unq(toks[i+1])
		for j := i + 3; j+1 < len(toks) && toks[j] != "}"; j++ {
			switch toks[j] {
			case "algorithm":
				k.algorithm = unq(toks[j+1])
			case "secret":
				k.secret = unq(toks[j+1])
			}
		}
		if k.secret == "" {
			return k, fmt.Errorf("key %q has no secret", k.name)
		}
		return k, nil
	}
	return k, errors.New("no key clause (key \"name\" { algorithm ...; secret \"...\"; };)")
}

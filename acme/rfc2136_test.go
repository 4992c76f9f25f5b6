package acme

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// fakeEnv serves rfc2136 settings from a map keyed by full variable name.
func fakeEnv(vars map[string]string) rfc2136Getenv {
	return func(suffix string) (string, string) {
		for _, p := range []string{"DNSUPDATE_", "RFC2136_"} {
			if v := vars[p+suffix]; v != "" {
				return p + suffix, v
			}
		}
		return "RFC2136_" + suffix, ""
	}
}

const testTSIGSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA=="

func TestRFC2136ConfigDefaults(t *testing.T) {
	c, err := parseRFC2136Config(fakeEnv(map[string]string{"RFC2136_NAMESERVER": "ns.example"}))
	if err != nil {
		t.Fatal(err)
	}
	want := rfc2136Config{nameserver: "ns.example:53", algorithm: dns.HmacSHA1, ttl: 120,
		propagationTimeout: 60 * time.Second, pollingInterval: 2 * time.Second,
		sequenceInterval: 60 * time.Second, dnsTimeout: 10 * time.Second}
	if c.nameserver != want.nameserver || c.algorithm != want.algorithm || c.ttl != want.ttl ||
		c.propagationTimeout != want.propagationTimeout || c.pollingInterval != want.pollingInterval ||
		c.sequenceInterval != want.sequenceInterval || c.dnsTimeout != want.dnsTimeout || c.keyName != "" || c.zones != nil {
		t.Errorf("got %+v, want %+v", c, want)
	}
}

func TestRFC2136ConfigSettings(t *testing.T) {
	c, err := parseRFC2136Config(fakeEnv(map[string]string{
		"RFC2136_NAMESERVER": "[::1]:5353", "RFC2136_TSIG_KEY": "Acme-Key", "RFC2136_TSIG_SECRET": testTSIGSecret,
		"RFC2136_TSIG_ALGORITHM": "HMAC-SHA256", "RFC2136_TTL": "30", "RFC2136_PROPAGATION_TIMEOUT": "300",
		"RFC2136_POLLING_INTERVAL": "5", "RFC2136_SEQUENCE_INTERVAL": "0", "RFC2136_DNS_TIMEOUT": "3",
		"DNSUPDATE_ZONES": "example.org, Sub.Example.org",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.nameserver != "[::1]:5353" || c.keyName != "acme-key." || c.algorithm != dns.HmacSHA256 || c.secret != testTSIGSecret ||
		c.ttl != 30 || c.propagationTimeout != 300*time.Second || c.pollingInterval != 5*time.Second ||
		c.sequenceInterval != 0 || c.dnsTimeout != 3*time.Second || strings.Join(c.zones, " ") != "example.org. sub.example.org." {
		t.Errorf("got %+v", c)
	}
	p := &rfc2136Provider{cfg: c}
	for fqdn, want := range map[string]string{"_acme-challenge.a.sub.example.org.": "sub.example.org.", "_acme-challenge.example.org.": "example.org."} {
		if z, err := p.findZone(fqdn); err != nil || z != want {
			t.Errorf("findZone(%s) = %q, %v; want %s", fqdn, z, err, want)
		}
	}
	if _, err := p.findZone("_acme-challenge.example.com."); err == nil {
		t.Error("findZone found a zone for a name outside RFC2136_ZONES")
	}
}

// lego reads DNSUPDATE_X before its older RFC2136_X.
func TestRFC2136ConfigDNSUpdateNamesWin(t *testing.T) {
	c, err := parseRFC2136Config(fakeEnv(map[string]string{"DNSUPDATE_NAMESERVER": "a.example", "RFC2136_NAMESERVER": "b.example", "DNSUPDATE_TTL": "7", "RFC2136_TTL": "8"}))
	if err != nil || c.nameserver != "a.example:53" || c.ttl != 7 {
		t.Errorf("got %+v, %v", c, err)
	}
}

func TestRFC2136KeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.key")
	body := "# tsig-keygen -a hmac-sha512 certagent\nkey \"certagent\" {\n\talgorithm hmac-sha512;\n\tsecret \"" + testTSIGSecret + "\";\n};\n"
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := parseRFC2136Config(fakeEnv(map[string]string{"RFC2136_NAMESERVER": "127.0.0.1", "RFC2136_TSIG_FILE": path}))
	if err != nil || c.keyName != "certagent." || c.algorithm != dns.HmacSHA512 || c.secret != testTSIGSecret {
		t.Fatalf("got %+v, %v", c, err)
	}
	if err := os.WriteFile(path, []byte("key \"x\" { algorithm hmac-sha256; };\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseRFC2136Config(fakeEnv(map[string]string{"RFC2136_NAMESERVER": "127.0.0.1", "RFC2136_TSIG_FILE": path})); err == nil || !strings.Contains(err.Error(), "no secret") {
		t.Errorf("key file without secret: %v", err)
	}
}

// Errors name the variable and the fix, never the secret.
func TestRFC2136ConfigErrors(t *testing.T) {
	ns := "RFC2136_NAMESERVER"
	cases := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{}, "RFC2136_NAMESERVER (or DNSUPDATE_NAMESERVER) is required"},
		{map[string]string{ns: "a b"}, "RFC2136_NAMESERVER: want host or host:port"},
		{map[string]string{ns: "h", "RFC2136_TSIG_ALGORITHM": "gss-tsig."}, "-tags dnsrfc2136 or dnsall"},
		{map[string]string{ns: "h", "DNSUPDATE_TSIG_GSS_REALM": "R"}, "DNSUPDATE_TSIG_GSS_REALM is set: GSS-TSIG (Kerberos) is not in the default build: build certagent with -tags dnsrfc2136"},
		{map[string]string{ns: "h", "RFC2136_TSIG_ALGORITHM": "hmac-md5.sig-alg.reg.int."}, `unsupported TSIG algorithm "hmac-md5.sig-alg.reg.int.": want one of hmac-sha1.`},
		{map[string]string{ns: "h", "RFC2136_TSIG_KEY": "k"}, "must be set together"},
		{map[string]string{ns: "h", "RFC2136_TSIG_SECRET": testTSIGSecret}, "must be set together"},
		{map[string]string{ns: "h", "RFC2136_TSIG_KEY": "k", "RFC2136_TSIG_SECRET": "not base64 " + testTSIGSecret}, "not valid base64"},
		{map[string]string{ns: "h", "RFC2136_TSIG_KEY": "k", "RFC2136_TSIG_SECRET": testTSIGSecret, "RFC2136_TSIG_FILE": "/nonexistent"}, "both set"},
		{map[string]string{ns: "h", "RFC2136_TSIG_FILE": "/nonexistent/k.key"}, "RFC2136_TSIG_FILE: open /nonexistent/k.key"},
		{map[string]string{ns: "h", "RFC2136_TTL": "-1"}, `RFC2136_TTL: want a whole number of seconds, got "-1"`},
		{map[string]string{ns: "h", "RFC2136_PROPAGATION_TIMEOUT": "2m"}, `RFC2136_PROPAGATION_TIMEOUT: want a whole number`},
		{map[string]string{ns: "h", "RFC2136_DNS_TIMEOUT": "x"}, `RFC2136_DNS_TIMEOUT: want a whole number`},
	}
	for _, tc := range cases {
		_, err := parseRFC2136Config(fakeEnv(tc.vars))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want an error containing %q", tc.vars, err, tc.want)
			continue
		}
		if strings.Contains(err.Error(), testTSIGSecret) {
			t.Errorf("%v: error shows the secret: %v", tc.vars, err)
		}
	}
}

// The provider constructor reads the process environment, as
// newDNSProvider sets it from dns_env_file.
func TestRFC2136FromEnvironment(t *testing.T) {
	t.Setenv("RFC2136_NAMESERVER", "127.0.0.1:5300")
	t.Setenv("RFC2136_PROPAGATION_TIMEOUT", "90")
	p, err := newRFC2136Provider()
	if err != nil {
		t.Fatal(err)
	}
	if to, iv := p.(*rfc2136Provider).Timeout(); to != 90*time.Second || iv != 2*time.Second {
		t.Errorf("Timeout() = %v, %v", to, iv)
	}
	t.Setenv("RFC2136_NAMESERVER", "")
	if _, err := newRFC2136Provider(); err == nil || !strings.HasPrefix(err.Error(), "rfc2136: ") {
		t.Errorf("no nameserver: %v", err)
	}
}

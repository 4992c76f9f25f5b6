package acme

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
	"github.com/go-acme/lego/v4/challenge/dns01"
	"github.com/miekg/dns"
)

// startNamed runs a real BIND named on a free loopback port, authoritative
// for example.test and accepting updates signed with key "certagent"
// (hmac-sha256, secret). Everything it writes stays in its temp dir, and
// the test kills it at the end.
func startNamed(t *testing.T, secret string) (addr string) {
	t.Helper()
	named := testbin.NeedTool(t, "named")
	dir := t.TempDir()
	port := pebbletest.FreePort(t) // free for UDP and TCP, as named listens on both
	zone := "$TTL 60\n@ IN SOA ns.example.test. admin.example.test. 1 60 60 600 60\n@ IN NS ns.example.test.\nns IN A 127.0.0.1\n"
	in := func(name string) string { return strconv.Quote(filepath.Join(dir, name)) }
	conf := fmt.Sprintf(`options {
	directory %s;
	pid-file %s;
	session-keyfile %s;
	managed-keys-directory %s;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
};
key "certagent" { algorithm hmac-sha256; secret %q; };
zone "example.test" { type primary; file %s; allow-update { key "certagent"; }; };
`, in(""), in("named.pid"), in("session.key"), in(""), port, secret, in("example.test.zone"))
	for name, body := range map[string]string{"named.conf": conf, "example.test.zone": zone} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var log testbin.SyncBuffer
	cmd := exec.CommandContext(ctx, named, "-g", "-c", filepath.Join(dir, "named.conf"), "-p", strconv.Itoa(port))
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &log, &log
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("named log:\n%s", log.String())
		}
	})
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	testbin.Eventually(t, 60*time.Second, "named answers for example.test", func() bool {
		r, err := queryAt(addr, "example.test.", dns.TypeSOA)
		return err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1
	})
	return addr
}

func queryAt(addr, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg).SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	return r, err
}

// txtAt is the TXT values of name that named serves now.
func txtAt(t *testing.T, addr, name string) []string {
	t.Helper()
	r, err := queryAt(addr, name, dns.TypeTXT)
	if err != nil {
		t.Fatalf("query TXT %s: %v", name, err)
	}
	var out []string
	for _, rr := range r.Answer {
		if txt, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(txt.Txt, ""))
		}
	}
	return out
}

func newTestRFC2136(t *testing.T, vars map[string]string) *rfc2136Provider {
	t.Helper()
	cfg, err := parseRFC2136Config(fakeEnv(vars))
	if err != nil {
		t.Fatal(err)
	}
	return &rfc2136Provider{cfg: cfg}
}

// Present makes the TXT value visible at the real server, CleanUp removes
// that value and leaves another one alone; a wrong secret is refused with
// NOTAUTH/BADSIG and changes nothing.
func TestRFC2136AgainstNamed(t *testing.T) {
	t.Setenv("LEGO_DISABLE_CNAME_SUPPORT", "true") // no lookups outside the test's server
	addr := startNamed(t, testTSIGSecret)
	good := newTestRFC2136(t, map[string]string{"RFC2136_NAMESERVER": addr, "RFC2136_TSIG_KEY": "certagent",
		"RFC2136_TSIG_SECRET": testTSIGSecret, "RFC2136_TSIG_ALGORITHM": "hmac-sha256."})
	const fqdn = "_acme-challenge.www.example.test."
	one, two := dns01.GetChallengeInfo("www.example.test", "ka-1").Value, dns01.GetChallengeInfo("www.example.test", "ka-2").Value

	if err := good.Present("www.example.test", "tok", "ka-1"); err != nil {
		t.Fatal(err)
	}
	if err := good.Present("www.example.test", "tok", "ka-2"); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(txtAt(t, addr, fqdn), " "); !strings.Contains(got, one) || !strings.Contains(got, two) {
		t.Fatalf("after Present: TXT %s = %q, want %s and %s", fqdn, got, one, two)
	}

	wrong := newTestRFC2136(t, map[string]string{"RFC2136_NAMESERVER": addr, "RFC2136_TSIG_KEY": "certagent",
		"RFC2136_TSIG_SECRET": "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=", "RFC2136_TSIG_ALGORITHM": "hmac-sha256."})
	err := wrong.CleanUp("www.example.test", "tok", "ka-1")
	if err == nil || !strings.Contains(err.Error(), "NOTAUTH/BADSIG") {
		t.Fatalf("CleanUp with a wrong secret: %v, want NOTAUTH/BADSIG", err)
	}
	if strings.Contains(err.Error(), "d3Jvbmct") {
		t.Errorf("error shows the secret: %v", err)
	}
	if got := txtAt(t, addr, fqdn); len(got) != 2 {
		t.Fatalf("a refused update changed the zone: TXT %s = %q", fqdn, got)
	}

	if err := good.CleanUp("www.example.test", "tok", "ka-1"); err != nil {
		t.Fatal(err)
	}
	if got := txtAt(t, addr, fqdn); len(got) != 1 || got[0] != two {
		t.Fatalf("after CleanUp of one value: TXT %s = %q, want only %s", fqdn, got, two)
	}
	if err := good.CleanUp("www.example.test", "tok", "ka-2"); err != nil {
		t.Fatal(err)
	}
	if got := txtAt(t, addr, fqdn); len(got) != 0 {
		t.Fatalf("after CleanUp: TXT %s = %q, want none", fqdn, got)
	}
}

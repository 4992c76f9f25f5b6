package acme

import (
	"context"
	"crypto"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/pebbletest"
)

// TestHTTP01Standalone issues through the shared responder on a free
// loopback port and checks the port is closed again afterwards.
func TestHTTP01Standalone(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	req := request(t, "web.example.com", "www.example.com")
	b := mustIssue(t, srv, i, req)
	if got := b.Leaf.DNSNames; len(got) != 2 {
		t.Fatalf("SANs = %v", got)
	}
	// lego solves the two authorizations one after the other.
	if n := i.HTTPListenCount(); n < 1 || n > 2 {
		t.Fatalf("responder bound %d times, want 1 or 2", n)
	}
	assertPortClosed(t, i.cfg.HTTPListen)
}

// TestHTTP01Webroot serves the token through an ordinary file server
// from the webroot, and checks no challenge file remains, after success
// and after a failed validation.
func TestHTTP01Webroot(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	root := t.TempDir()
	stop := serveDir(t, root, srv.HTTPPort)
	defer stop()
	cfg := issuerConfig(srv)
	cfg.Webroot = root
	i := newIssuer(t, cfg, "")
	mustIssue(t, srv, i, request(t, "files.example.com"))
	assertNoChallengeFiles(t, root)

	// Failure: the web server is gone, so Pebble's validation fails.
	stop()
	_, err := issue(t, i, request(t, "gone.example.com"))
	var pe *ProblemError
	if !errors.As(err, &pe) || !strings.Contains(pe.Type, "connection") && !strings.Contains(pe.Type, "unauthorized") {
		t.Fatalf("failed validation: got %v, want a ProblemError with the CA's type", err)
	}
	assertNoChallengeFiles(t, root)
}

func assertNoChallengeFiles(t *testing.T, root string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(root, ".well-known", "acme-challenge"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Fatalf("challenge files left behind: %v", entries)
	}
}

// TestTLSALPN01 issues via tls-alpn-01 on a free loopback port.
func TestTLSALPN01(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	cfg := issuerConfig(srv)
	cfg.Challenge = ChallengeTLSALPN01
	i := newIssuer(t, cfg, "")
	mustIssue(t, srv, i, request(t, "alpn.example.com"))
	assertPortClosed(t, cfg.TLSListen)
}

// TestDNS01Exec uses lego's exec provider, configured only through
// dns_env_file, with a script that sets TXT records via challtestsrv, and
// dns_resolvers pointing at challtestsrv (no other DNS needed).
func TestDNS01Exec(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	dir := t.TempDir()
	script := filepath.Join(dir, "dns-hook.sh")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hook := "#!/bin/sh\n" + dnsHelperEnv + "='" + srv.ChallSrvURL + "' exec '" + self + "' \"$@\"\n"
	if err := os.WriteFile(script, []byte(hook), 0o700); err != nil {
		t.Fatal(err)
	}
	envFile := filepath.Join(dir, "dns.env")
	env := "# exec provider\nEXEC_PATH=" + script + "\nEXEC_POLLING_INTERVAL=1\nEXEC_PROPAGATION_TIMEOUT=30\nEXEC_SEQUENCE_INTERVAL=1\n"
	if err := os.WriteFile(envFile, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := issuerConfig(srv)
	cfg.Challenge = ChallengeDNS01
	cfg.DNSProvider = "exec"
	cfg.DNSEnvFile = envFile
	cfg.DNSResolvers = []string{srv.DNSAddr}
	i := newIssuer(t, cfg, "")
	mustIssue(t, srv, i, request(t, "dns.example.com", "dns2.example.com"))
	if v, ok := os.LookupEnv("EXEC_PATH"); ok {
		t.Fatalf("EXEC_PATH=%q leaked into the process environment", v)
	}
}

// TestConcurrentOrdersShareOnePort runs 10 orders with max_concurrent = 4
// against one http-01 port: all succeed, no more than 4 run at once, and
// the port is bound fewer times than there are authorizations, which
// only happens when overlapping orders share the listener.
func TestConcurrentOrdersShareOnePort(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for k := 0; k < n; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := request(t, name(k))
			b, err := issue(t, i, req)
			if err == nil {
				verifyBundle(t, srv, b, req)
			}
			errs[k] = err
		}()
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Errorf("order %d: %v", k, err)
		}
	}
	if got := i.http.maxActive.Load(); got > 4 {
		t.Errorf("%d orders had challenges pending at once, max_concurrent is 4", got)
	}
	if got := i.HTTPListenCount(); got < 1 || got >= n {
		t.Errorf("port bound %d times for %d authorizations; concurrent orders did not share it", got, n)
	}
	assertPortClosed(t, i.cfg.HTTPListen)
}

// TestCancelReturnsPromptly points the issuer at a server that accepts
// connections and never answers: cancelling ctx must make Issue return at
// once, and lego's goroutine must unwind (freeing its max_concurrent
// slot) long before any HTTP timeout, because each request carries ctx.
func TestCancelReturnsPromptly(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, say nothing
		}
	}()
	cfg := issuerConfig(&pebbletest.Server{HTTPPort: 1, TLSPort: 1})
	cfg.Directory = "https://" + ln.Addr().String() + "/dir"
	cfg.CABundle = ""
	i := newIssuer(t, cfg, "")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	start := time.Now()
	_, err = i.Issue(ctx, request(t, "cancel.example.com"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Issue took %s after cancellation", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(i.sem) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("lego goroutine still holds its slot 5 s after cancellation")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestIPOnlyOrderHasNoIPCommonName: an IP-only request whose CN is its IP
// (what the config defaults to) is ordered from real Pebble with no IP in
// the CSR's CN, so the issued cert's subject, as openssl prints it, names
// no IP; the IP stays in the SAN.
func TestIPOnlyOrderHasNoIPCommonName(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	ip := net.IPv4(127, 0, 0, 1)
	req := agent.Request{Name: "iponly", CommonName: ip.String(), IPAddresses: []net.IP{ip},
		ServerAuth: true, KeyType: agent.KeyEC256, StagingDir: t.TempDir()}
	csr, err := makeCSR(req, mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	if csr.Subject.CommonName != "" || len(csr.IPAddresses) != 1 {
		t.Fatalf("CSR subject %q, IPs %v; want no CN and the IP in the SAN", csr.Subject, csr.IPAddresses)
	}
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	b, err := issue(t, i, req)
	if err != nil {
		t.Fatalf("Issue: %v\npebble log tail:\n%s", err, tail(srv.Log(), 20))
	}
	if len(b.Leaf.IPAddresses) != 1 || !b.Leaf.IPAddresses[0].Equal(ip) {
		t.Fatalf("issued IPs %v, want %s", b.Leaf.IPAddresses, ip)
	}
	certFile := filepath.Join(t.TempDir(), "leaf.pem")
	if err := os.WriteFile(certFile, pki.EncodeCertsPEM(b.Leaf), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "x509", "-in", certFile, "-noout", "-subject").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509 -subject: %v\n%s", err, out)
	}
	subject := strings.TrimSpace(string(out))
	if !strings.HasPrefix(subject, "subject=") {
		t.Fatalf("openssl printed %q, want a subject line", subject)
	}
	if cn := b.Leaf.Subject.CommonName; strings.Contains(subject, ip.String()) || net.ParseIP(cn) != nil {
		t.Fatalf("issued subject %q (CN %q) names an IP", subject, cn)
	}
	t.Logf("IP-only order: %s, SAN IPs %v", subject, b.Leaf.IPAddresses)
}

func mustKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

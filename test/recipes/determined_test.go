package recipes

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/pebbletest"
)

const determinedLocal = `
[agent]
state_dir = "{{dir}}/state"
[issuers.cluster]
type = "local"
key_type = "ec384"
[certs.determined-master]
preset = "determined"
issuer = "cluster"
dns_names = ["det.example.com"]
ip_addresses = ["127.0.0.1"]
cert_file = "{{dir}}/etc/determined/tls/master.crt"
key_file = "{{dir}}/etc/determined/tls/master.key"
ca_file = "{{dir}}/etc/determined/tls/ca.crt"
`

// TestDeterminedLocalCA: a Determined agent trusts only master_cert (the
// written CA file) and verifies the master_cert_name (the DNS SAN) while
// connecting by IP, against a master serving the written pair.
func TestDeterminedLocalCA(t *testing.T) {
	h := newHost(t)
	h.write(t, determinedLocal)
	h.renew(t)
	chain := readCerts(t, h.path("etc/determined/tls/master.crt"))
	if len(chain) != 2 || !chain[1].Equal(readCerts(t, h.path("etc/determined/tls/ca.crt"))[0]) {
		t.Fatalf("preset determined: cert_file holds %d certs, want leaf then root", len(chain))
	}
	addr := serveTLS(t, h.path("etc/determined/tls/master.crt"), h.path("etc/determined/tls/master.key"), nil)
	if err := dialTLS(addr, h.path("etc/determined/tls/ca.crt"), "det.example.com", nil); err != nil {
		t.Fatalf("agent with master_cert and master_cert_name: %v", err)
	}
	// The check must be able to fail: a wrong master_cert_name is refused.
	if err := dialTLS(addr, h.path("etc/determined/tls/ca.crt"), "other.example.com", nil); err == nil {
		t.Fatal("a name not in the certificate was accepted")
	}
}

// TestDeterminedACME: the same agent check against Pebble-issued files;
// cert_file carries the full chain the master serves.
func TestDeterminedACME(t *testing.T) {
	srv := pebbletest.Start(t, pebbletest.Options{})
	h := newHost(t)
	h.write(t, `
[agent]
state_dir = "{{dir}}/state"
[issuers.pebble]
type = "acme"
directory = "`+srv.DirectoryURL+`"
ca_bundle = "`+srv.CABundle+`"
http_listen = "127.0.0.1:`+strconv.Itoa(srv.HTTPPort)+`"
[certs.determined-master]
preset = "determined"
issuer = "pebble"
dns_names = ["det.example.test"]
cert_file = "{{dir}}/etc/determined/tls/master.crt"
key_file = "{{dir}}/etc/determined/tls/master.key"
`)
	h.renew(t)
	if n := len(readCerts(t, h.path("etc/determined/tls/master.crt"))); n < 2 {
		t.Fatalf("cert_file holds %d certs, want the full chain", n)
	}
	roots, err := srv.Roots(context.Background())
	if err != nil || len(roots) == 0 {
		t.Fatalf("pebble roots: %v", err)
	}
	writeFile(t, h.path("agent/master_cert.pem"), string(pki.EncodeCertsPEM(roots...)), 0o644)
	addr := serveTLS(t, h.path("etc/determined/tls/master.crt"), h.path("etc/determined/tls/master.key"), nil)
	if err := dialTLS(addr, h.path("agent/master_cert.pem"), "det.example.test", nil); err != nil {
		t.Fatalf("agent against the ACME master cert: %v", err)
	}
}

func readCerts(t *testing.T, path string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	certs, err := pki.ParseCertsPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return certs
}

// serveTLS serves TLS on 127.0.0.1 with the pair; with clientCAs set it
// requires and verifies a client certificate. Each connection completes
// its handshake and closes.
func serveTLS(t *testing.T, certFile, keyFile string, clientCAs *x509.CertPool) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("server cannot load the written pair: %v", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if clientCAs != nil {
		cfg.ClientCAs, cfg.ClientAuth = clientCAs, tls.RequireAndVerifyClientCert
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Write([]byte("ok"))
			}()
		}
	}()
	return ln.Addr().String()
}

// dialTLS connects trusting only caFile, verifying serverName, optionally
// presenting a client pair; it reads the server's reply so a rejected
// client certificate surfaces as an error.
func dialTLS(addr, caFile, serverName string, client *tls.Certificate) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return os.ErrInvalid
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 2)
	if _, err := c.Read(buf); err != nil {
		return err
	}
	if !strings.HasPrefix(string(buf), "ok") {
		return os.ErrInvalid
	}
	return nil
}

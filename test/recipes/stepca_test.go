package recipes

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// stepCAVersion is what test/setup.d/55-stepca.sh installs.
const stepCAVersion = "v0.30.2"

// stepCA is a running step-ca with its own root and intermediate.
type stepCA struct {
	directory string // ACME directory URL of the "acme" provisioner
	root      string // root_ca.crt, the ca_bundle and the trust anchor
	httpPort  int    // where step-ca validates http-01 (--acme-http-port)
	log       *testbin.SyncBuffer
}

// startStepCA writes a step-ca PKI and ca.json (no `step` CLI: the PKI is
// made here with crypto/x509) and runs step-ca on a free loopback port
// until the test ends. The ACME provisioner issues one-year certificates,
// as the OpenFL recipe configures it. --insecure --acme-http-port makes
// step-ca validate http-01 on a free port instead of 80, so no root is
// needed.
func startStepCA(t *testing.T) *stepCA {
	t.Helper()
	bin := testbin.PinnedTool(t, "step-ca", "test/setup.d/55-stepca.sh, "+stepCAVersion)
	dir := t.TempDir()
	s := &stepCA{root: filepath.Join(dir, "certs", "root_ca.crt"), httpPort: pebbletest.FreePort(t), log: &testbin.SyncBuffer{}}
	writeStepPKI(t, dir)
	addr := "127.0.0.1:" + strconv.Itoa(pebbletest.FreePort(t))
	s.directory = "https://" + addr + "/acme/acme/directory"
	cfg := map[string]any{
		"root":     s.root,
		"crt":      filepath.Join(dir, "certs", "intermediate_ca.crt"),
		"key":      filepath.Join(dir, "secrets", "intermediate_ca_key"),
		"address":  addr,
		"dnsNames": []string{"127.0.0.1", "localhost"},
		"logger":   map[string]string{"format": "text"},
		"db":       map[string]string{"type": "badgerv2", "dataSource": filepath.Join(dir, "db")},
		"authority": map[string]any{
			"provisioners": []map[string]any{{
				"type": "ACME", "name": "acme",
				"claims": map[string]string{"defaultTLSCertDuration": "8760h", "maxTLSCertDuration": "8760h"},
			}},
		},
		"tls": map[string]any{"minVersion": 1.2, "maxVersion": 1.3},
	}
	js, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	caJSON := filepath.Join(dir, "config", "ca.json")
	writeFile(t, caJSON, string(js), 0o600)

	cmd := exec.Command(bin, caJSON, "--insecure", "--acme-http-port", strconv.Itoa(s.httpPort))
	cmd.Env = append(os.Environ(), "STEPPATH="+dir, "HOME="+dir)
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Killed with the test binary should it die before its cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start step-ca: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("step-ca log:\n%s", s.log.String())
		}
	})
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: poolOf(t, s.root), MinVersion: tls.VersionTLS12}}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(s.directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-done:
			t.Fatalf("step-ca exited at start-up:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("step-ca directory %s not ready after 30s (last error %v):\n%s", s.directory, err, s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// writeStepPKI lays out what `step ca init` would: certs/root_ca.crt,
// certs/intermediate_ca.crt and an unencrypted secrets/intermediate_ca_key
// (step-ca then needs no --password-file).
func writeStepPKI(t *testing.T, dir string) {
	t.Helper()
	rootKey := newP256(t)
	now := time.Now()
	rootTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certagent test step-ca Root CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, IsCA: true, BasicConstraintsValid: true, MaxPathLen: 1,
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	intKey := newP256(t)
	intTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "certagent test step-ca Intermediate CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, IsCA: true, BasicConstraintsValid: true,
		MaxPathLen: 0, MaxPathLenZero: true,
	}
	intDER, err := x509.CreateCertificate(rand.Reader, intTmpl, root, intKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(intKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "certs", "root_ca.crt"), pemOf("CERTIFICATE", rootDER), 0o644)
	writeFile(t, filepath.Join(dir, "certs", "intermediate_ca.crt"), pemOf("CERTIFICATE", intDER), 0o644)
	writeFile(t, filepath.Join(dir, "secrets", "intermediate_ca_key"), pemOf("PRIVATE KEY", keyDER), 0o600)
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

func poolOf(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(readCerts(t, file)[0])
	return pool
}

// TestStepCAACME: one real ACME issuance from step-ca's ACME provisioner,
// as the OpenFL recipe sets it up: certagent's ACME issuer trusts
// step-ca's root through ca_bundle, answers http-01, and writes an
// aggregator pair (server and client, preset openfl with its ca_file)
// that openssl verifies against that root and that a Go TLS client
// trusting the written ca_file accepts.
func TestStepCAACME(t *testing.T) {
	openssl := testbin.OpenSSL(t)
	ca := startStepCA(t)
	h := newHost(t)
	h.write(t, `
[agent]
state_dir = "{{dir}}/state"
[issuers.stepca]
type = "acme"
directory = "`+ca.directory+`"
ca_bundle = "`+ca.root+`"
challenge = "http-01"
http_listen = "127.0.0.1:`+strconv.Itoa(ca.httpPort)+`"
[certs.aggregator]
preset = "openfl"
issuer = "stepca"
dns_names = ["localhost"]
ip_addresses = ["127.0.0.1"]
usage = ["server", "client"]
cert_mode = "0644"
cert_file = "{{dir}}/cert/server/agg.crt"
key_file = "{{dir}}/cert/server/agg.key"
chain_file = "{{dir}}/cert/server/agg-chain.crt"
ca_file = "{{dir}}/cert/cert_chain.crt"
`)
	h.renew(t)

	for path, want := range map[string]os.FileMode{
		"cert/server/agg.key": 0o600, "cert/server/agg.crt": 0o644, "cert/server/agg-chain.crt": 0o644,
		"cert/cert_chain.crt": 0o644,
	} {
		st, err := os.Stat(h.path(path))
		if err != nil {
			t.Fatalf("%s not written: %v", path, err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", path, st.Mode().Perm(), want)
		}
	}
	out := testbin.Run(t, openssl, "verify", "-CAfile", ca.root, "-untrusted", h.path("cert/server/agg-chain.crt"),
		"-purpose", "sslserver", h.path("cert/server/agg.crt"))
	if !strings.Contains(out, ": OK") {
		t.Fatalf("openssl verify: %s", out)
	}
	leaf := readCerts(t, h.path("cert/server/agg.crt"))[0]
	if leaf.Issuer.CommonName != "certagent test step-ca Intermediate CA" {
		t.Errorf("leaf issued by %q, want step-ca's intermediate", leaf.Issuer.CommonName)
	}
	// The provisioner's defaultTLSCertDuration, as the recipe says; step-ca
	// backdates NotBefore by a minute.
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < 8760*time.Hour || got > 8760*time.Hour+2*time.Minute {
		t.Errorf("lifetime %v, want one year (8760h)", got)
	}
	if !hasEKU(leaf, x509.ExtKeyUsageServerAuth) || !hasEKU(leaf, x509.ExtKeyUsageClientAuth) {
		t.Errorf("EKUs %v, want serverAuth and clientAuth", leaf.ExtKeyUsage)
	}

	// step-ca leaves its root out of the chain; ca_file (required by the
	// openfl preset) holds the ca_bundle root that signed it.
	if got := readCerts(t, h.path("cert/cert_chain.crt")); len(got) != 1 || !got[0].Equal(readCerts(t, ca.root)[0]) {
		t.Fatalf("ca_file holds %d certs, want step-ca's root only", len(got))
	}

	// A TLS server on the written pair, sending leaf+intermediate, is
	// accepted by a client trusting only the written ca_file.
	full := h.path("cert/server/agg-full.crt")
	writeFile(t, full, string(pki.EncodeCertsPEM(append([]*x509.Certificate{leaf},
		readCerts(t, h.path("cert/server/agg-chain.crt"))...)...)), 0o644)
	addr := serveTLS(t, full, h.path("cert/server/agg.key"), nil)
	if err := dialTLS(addr, h.path("cert/cert_chain.crt"), "localhost", nil); err != nil {
		t.Fatalf("TLS client trusting the written ca_file: %v", err)
	}
	// The check can fail: a name the cert does not carry is refused.
	if err := dialTLS(addr, ca.root, "aggregator.example.com", nil); err == nil {
		t.Fatal("a name not in the certificate was accepted")
	}
}

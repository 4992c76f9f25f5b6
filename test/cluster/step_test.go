package cluster

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/testbin"
)

// TestStepEnrollAndRenew: a token from `step ca token` enrolls the host
// (/1.0/sign) and is deleted; `renew --force` then rekeys over mutual TLS
// (/1.0/rekey, a new key) and, with reuse_key, renews (/1.0/renew, the
// same key). Every pair verifies against the root with openssl and in a
// real TLS handshake whose client trusts only the written ca_file.
func TestStepEnrollAndRenew(t *testing.T) {
	ca := newStepCA(t)
	h := newHost(t)
	h.write(ca, `root_fingerprint = "`+ca.fingerprint()+`"`, "")
	h.putToken(ca.token("web.example.com", "web.example.com"))

	h.renew(false)
	if _, err := os.Stat(h.tok); !os.IsNotExist(err) {
		t.Errorf("the used token is still there (%v)", err)
	}
	first := leafOf(t, h.path("web.crt"))
	key1 := readFile(t, h.path("web.key"))
	checkPair(t, ca, h)
	if n := ca.count("/1.0/sign", 201); n != 1 {
		t.Errorf("step-ca signed %d times, want 1", n)
	}
	if mode := fileMode(t, h.path("web.key")); mode != 0o600 {
		t.Errorf("key mode %04o", mode)
	}
	if state, _ := h.status(); state != "ok" {
		t.Errorf("state after enrollment = %q", state)
	}

	h.renew(true)
	second := leafOf(t, h.path("web.crt"))
	if serial(second) == serial(first) || readFile(t, h.path("web.key")) == key1 {
		t.Error("renewal did not make a new cert with a new key")
	}
	if n := ca.count("/1.0/rekey", 201); n != 1 {
		t.Errorf("step-ca rekeyed %d times, want 1", n)
	}
	checkPair(t, ca, h)

	h.write(ca, `root_fingerprint = "`+ca.fingerprint()+`"`, "reuse_key = true")
	h.renew(true)
	third := leafOf(t, h.path("web.crt"))
	if serial(third) == serial(second) || !bytes.Equal(third.RawSubjectPublicKeyInfo, second.RawSubjectPublicKeyInfo) {
		t.Error("renewal with reuse_key did not make a new cert for the same key")
	}
	if n := ca.count("/1.0/renew", 201); n != 1 {
		t.Errorf("step-ca renewed %d times, want 1", n)
	}
	checkPair(t, ca, h)
}

// checkPair verifies the host's pair against step-ca's root with openssl
// and with a TLS handshake (server: the pair; client: trusts ca_file).
func checkPair(t *testing.T, ca *stepCA, h *host) {
	t.Helper()
	checkPairRoot(t, ca.Root, h)
}

// checkPairRoot is checkPair against the root in rootFile.
func checkPairRoot(t *testing.T, rootFile string, h *host) {
	t.Helper()
	verifyFiles(t, rootFile, h.path("web.crt"), h.path("web.key"), h.path("ca.crt"))
}

// verifyFiles checks a written pair: openssl verifies crt (leaf, then
// its intermediates) against rootFile, and a TLS client trusting only
// caFile completes a handshake with a server using the pair.
func verifyFiles(t *testing.T, rootFile, crt, key, caFile string) {
	t.Helper()
	openssl := testbin.NeedTool(t, "openssl")
	out, err := exec.Command(openssl, "verify", "-CAfile", rootFile, "-untrusted", crt, crt).CombinedOutput()
	if err != nil || !strings.Contains(string(out), ": OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	errc := make(chan error, 1)
	go func() {
		s := tls.Server(server, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
		errc <- s.Handshake()
		s.Close()
	}()
	c := tls.Client(client, &tls.Config{RootCAs: poolFile(t, caFile), ServerName: leafOf(t, crt).DNSNames[0], MinVersion: tls.VersionTLS12})
	if err := c.Handshake(); err != nil {
		t.Fatalf("TLS handshake against the written pair: %v", err)
	}
	_, _ = io.Copy(io.Discard, c)
	c.Close()
	if err := <-errc; err != nil {
		t.Fatalf("server side: %v", err)
	}
}

func poolFile(t *testing.T, file string) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, c := range readCerts(t, file) {
		pool.AddCert(c)
	}
	return pool
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

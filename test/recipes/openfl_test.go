package recipes

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"
)

const openflConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.openfl]
type = "local"
[issuers.other]
type = "local"
common_name = "some other CA"
[certs.aggregator]
preset = "openfl"
issuer = "openfl"
dns_names = ["aggregator.example.com"]
ip_addresses = ["127.0.0.1"]
usage = ["server", "client"]
cert_file = "{{dir}}/cert/server/agg.crt"
key_file = "{{dir}}/cert/server/agg.key"
ca_file = "{{dir}}/cert/cert_chain.crt"
[certs.collaborator1]
preset = "openfl"
issuer = "openfl"
common_name = "collaborator1"
dns_names = ["collaborator1.example.com"]
usage = ["client"]
cert_file = "{{dir}}/cert/client/col1.crt"
key_file = "{{dir}}/cert/client/col1.key"
ca_file = "{{dir}}/cert/client/cert_chain.crt"
[certs.intruder]
issuer = "other"
common_name = "collaborator2"
dns_names = ["collaborator2.example.com"]
usage = ["client"]
cert_file = "{{dir}}/rogue/col2.crt"
key_file = "{{dir}}/rogue/col2.key"
`

// TestOpenFLMutualTLS: the aggregator requires client certificates from
// the federation CA; the collaborator's is accepted, one from another CA
// is refused. Certificates carry the EKUs of their role and one year.
func TestOpenFLMutualTLS(t *testing.T) {
	h := newHost(t)
	h.write(t, openflConfig)
	h.renew(t)
	agg := readCerts(t, h.path("cert/server/agg.crt"))[0]
	col := readCerts(t, h.path("cert/client/col1.crt"))[0]
	if got := agg.NotAfter.Sub(agg.NotBefore); got < 365*24*time.Hour || got > 366*24*time.Hour {
		t.Errorf("aggregator lifetime %v, want one year (preset openfl)", got)
	}
	if !hasEKU(agg, x509.ExtKeyUsageServerAuth) || !hasEKU(agg, x509.ExtKeyUsageClientAuth) ||
		!hasEKU(col, x509.ExtKeyUsageClientAuth) || hasEKU(col, x509.ExtKeyUsageServerAuth) {
		t.Errorf("EKUs: aggregator %v, collaborator %v", agg.ExtKeyUsage, col.ExtKeyUsage)
	}
	caPEM, err := os.ReadFile(h.path("cert/cert_chain.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	addr := serveTLS(t, h.path("cert/server/agg.crt"), h.path("cert/server/agg.key"), pool)

	colPair, err := tls.LoadX509KeyPair(h.path("cert/client/col1.crt"), h.path("cert/client/col1.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dialTLS(addr, h.path("cert/client/cert_chain.crt"), "aggregator.example.com", &colPair); err != nil {
		t.Fatalf("collaborator refused: %v", err)
	}
	rogue, err := tls.LoadX509KeyPair(h.path("rogue/col2.crt"), h.path("rogue/col2.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := dialTLS(addr, h.path("cert/client/cert_chain.crt"), "aggregator.example.com", &rogue); err == nil {
		t.Fatal("a client certificate from another CA was accepted")
	}
	if err := dialTLS(addr, h.path("cert/client/cert_chain.crt"), "aggregator.example.com", nil); err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
}

func hasEKU(c *x509.Certificate, eku x509.ExtKeyUsage) bool {
	for _, e := range c.ExtKeyUsage {
		if e == eku {
			return true
		}
	}
	return false
}

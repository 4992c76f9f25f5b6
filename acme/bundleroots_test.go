package acme

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
)

// testCA makes a self-signed CA, or one signed by parent.
func testCA(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

// A CA that leaves its root out of the chain (step-ca) gets the ca_bundle
// root that signed the chain as Bundle.Roots; an unrelated bundle root is
// never used, and a root the CA sent is kept.
func TestRootFromBundle(t *testing.T) {
	root, rootKey := testCA(t, "root", nil, nil)
	inter, _ := testCA(t, "intermediate", root, rootKey)
	other, _ := testCA(t, "other root", nil, nil)

	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.pem")
	var data []byte
	for _, c := range []*x509.Certificate{other, inter, root} {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	if err := os.WriteFile(bundle, data, 0o644); err != nil {
		t.Fatal(err)
	}
	roots := bundleRoots(bundle)
	if len(roots) != 2 {
		t.Fatalf("bundleRoots kept %d certs, want the 2 self-signed ones", len(roots))
	}

	b := &agent.Bundle{Leaf: inter, Chain: []*x509.Certificate{inter}}
	rootFromBundle(b, roots)
	if len(b.Roots) != 1 || !b.Roots[0].Equal(root) {
		t.Fatalf("Roots = %v, want the bundle root that signed the chain", b.Roots)
	}

	b = &agent.Bundle{Leaf: inter, Chain: []*x509.Certificate{inter}}
	rootFromBundle(b, []*x509.Certificate{other})
	if len(b.Roots) != 0 {
		t.Fatal("an unrelated ca_bundle root was taken as the chain's root")
	}

	b = &agent.Bundle{Leaf: inter, Chain: []*x509.Certificate{inter}, Roots: []*x509.Certificate{other}}
	rootFromBundle(b, roots)
	if !b.Roots[0].Equal(other) {
		t.Fatal("the root the CA sent was replaced")
	}
	if bundleRoots("") != nil {
		t.Fatal("no ca_bundle must give no roots")
	}
}

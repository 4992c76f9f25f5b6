package agent

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// TestForgedCRLOnDiskNotAdopted: the service user who owns the output
// directory writes a CA cert of their own with the real CA's name into
// ca_file, and a CRL it signs, with a higher number and no revoked
// serial, into crl_file. The CRL checks must not trust a signer read from
// that directory unless it chains to the issuer's roots: otherwise root
// would keep the forged CRL (un-revoking serials) instead of writing the
// CA's.
func TestForgedCRLOnDiskNotAdopted(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	out := hostiletest.Dir(t, base, "out")
	ca, caKey := newCRLCA(t, "revoking CA")
	forged, forgedKey := newCRLCA(t, "revoking CA") // same name, the user's key
	leafKey, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(42),
		Subject: pkix.Name{CommonName: "web.example.com"}, DNSNames: []string{"web.example.com"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour)}, ca, leafKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	var n int64
	realDER, err := signCRL(ca, caKey, &n, []*big.Int{big.NewInt(41)})
	if err != nil {
		t.Fatal(err)
	}
	n = 99
	forgedDER, err := signCRL(forged, forgedKey, &n, nil)
	if err != nil {
		t.Fatal(err)
	}
	caFile, crlFile := filepath.Join(out, "ca.pem"), filepath.Join(out, "ca.crl")
	forgedCRL := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: forgedDER})
	for p, b := range map[string][]byte{caFile: pki.EncodeCertsPEM(forged), crlFile: forgedCRL} {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		hostiletest.Own(t, p)
	}
	realPEM := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: realDER})
	st := &certState{name: "web", cfg: &config.Cert{Name: "web", Issuer: "ca", CAFile: caFile, CRLFile: crlFile},
		leaf: leaf, crlData: realPEM}
	if (&Agent{}).adoptNewerCRL(st, []*x509.Certificate{ca}, now) {
		t.Errorf("the forged CRL in the service user's crl_file was adopted over the CA's")
	}
	if string(st.crlData) != string(realPEM) {
		t.Errorf("the CRL to write is no longer the CA's")
	}
	// An issuer that names no roots (ACME): the CRL on disk must still
	// be signed by the key that signed the CA's own.
	if (&Agent{}).adoptNewerCRL(st, nil, now) || string(st.crlData) != string(realPEM) {
		t.Errorf("without issuer roots, the forged CRL in the service user's crl_file was adopted over the CA's")
	}
	if _, err := checkCRL(forgedDER, leaf, issuerCandidates(st, []*x509.Certificate{ca}, now), now); err == nil {
		t.Errorf("a CRL signed by a cert from the service user's ca_file passed the signature check")
	}
	if _, err := checkCRL(realDER, leaf, issuerCandidates(st, []*x509.Certificate{ca}, now), now); err != nil {
		t.Errorf("the CA's own CRL: %v", err)
	}
}

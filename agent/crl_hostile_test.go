package agent

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
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
	// The leaf itself is root's: the state keeps its summary and the CRL
	// check reads it again.
	certFile := filepath.Join(base, "web.crt")
	if err := os.WriteFile(certFile, pki.EncodeCertsPEM(leaf), 0o644); err != nil {
		t.Fatal(err)
	}
	st := &certState{name: "web", cfg: &config.Cert{Name: "web", Issuer: "ca", CertFile: certFile, CAFile: caFile, CRLFile: crlFile},
		leaf: summarize(leaf), crl: &crlState{data: realPEM}}
	if (&Agent{}).adoptNewerCRL(st, []*x509.Certificate{ca}, now) {
		t.Errorf("the forged CRL in the service user's crl_file was adopted over the CA's")
	}
	if string(st.crl.data) != string(realPEM) {
		t.Errorf("the CRL to write is no longer the CA's")
	}
	// An issuer that names no roots (ACME): the CRL on disk must still
	// be signed by the key that signed the CA's own.
	if (&Agent{}).adoptNewerCRL(st, nil, now) || string(st.crl.data) != string(realPEM) {
		t.Errorf("without issuer roots, the forged CRL in the service user's crl_file was adopted over the CA's")
	}
	if _, err := checkCRL(forgedDER, leaf, issuerCandidates(st, nil, []*x509.Certificate{ca}, now), now); err == nil {
		t.Errorf("a CRL signed by a cert from the service user's ca_file passed the signature check")
	}
	if _, err := checkCRL(realDER, leaf, issuerCandidates(st, nil, []*x509.Certificate{ca}, now), now); err != nil {
		t.Errorf("the CA's own CRL: %v", err)
	}
}

// TestCRLFileSymlinkNotWrittenThrough: the service user who owns the
// directory of crl_file replaces it with a symlink to a file of root's.
// The next CRL is refused there, the target keeps its bytes, the link
// stays for the operator to see, and status says why.
func TestCRLFileSymlinkNotWrittenThrough(t *testing.T) {
	hostiletest.NeedRoot(t)
	ta, ri, ctx := issuedWithRevoker(t)
	out := filepath.Join(ta.dir, "out")
	for _, p := range []string{ta.dir, out} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostiletest.Own(t, out)
	victim := filepath.Join(ta.dir, "shadow")
	if err := os.WriteFile(victim, []byte("root:precious\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	crlPath := filepath.Join(out, "ca.crl")
	if err := os.Remove(crlPath); err != nil {
		t.Fatal(err)
	}
	hostiletest.Link(t, victim, crlPath)
	ri.mu.Lock()
	ri.revoked = append(ri.revoked, big.NewInt(41)) // the next CRL differs
	ri.mu.Unlock()
	ta.pass(ctx, passOptions{crlIssuers: map[string]bool{"ca": true}})
	if b, err := os.ReadFile(victim); err != nil || string(b) != "root:precious\n" {
		t.Errorf("root's file behind the planted crl_file link changed: %q, %v", b, err)
	}
	if fi, err := os.Lstat(victim); err != nil || fi.Mode().Perm() != 0o640 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("root's file behind the planted link changed mode or owner: %v, %v", fi.Mode(), err)
	}
	if fi, err := os.Lstat(crlPath); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted link was replaced or removed (%v): the operator should see it", err)
	}
	if row := rowNamed(ta.Agent, "web"); !strings.Contains(row.CRLError, "not written") {
		t.Errorf("status crl_error %q, want the refusal", row.CRLError)
	}
}

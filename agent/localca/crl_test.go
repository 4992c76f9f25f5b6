package localca

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"

	"github.com/certagent/certagent/internal/testbin"
)

func crlOf(t *testing.T, ca *CA) *x509.RevocationList {
	t.Helper()
	der, err := ca.CRL(context.Background(), nil, nil)
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl
}

func revoke(t *testing.T, ca *CA, b *agent.Bundle, r agent.RevocationReason) {
	t.Helper()
	if err := ca.Revoke(context.Background(), agent.RevokeRequest{Name: "web", Cert: b.Leaf, Reason: r}); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
}

// openssl verify -crl_check with the CA's CRL file rejects the revoked
// leaf and accepts the other one; before the revocation it accepts both.
func TestOpenSSLVerifyCRL(t *testing.T) {
	bin := testbin.OpenSSL(t)
	ca, dir := newCA(t, issuerCfg("ec256", 24*time.Hour))
	good, bad := issue(t, ca, webRequest()), issue(t, ca, webRequest())
	out := t.TempDir()
	caFile := filepath.Join(out, "ca.pem")
	write := func(name string, data []byte) string {
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("ca.pem", pki.EncodeCertsPEM(good.Roots...))
	goodFile, badFile := write("good.pem", pki.EncodeCertsPEM(good.Leaf)), write("bad.pem", pki.EncodeCertsPEM(bad.Leaf))
	verify := func(leaf string) (string, error) {
		return openssl(t, bin, "verify", "-crl_check", "-CRLfile", filepath.Join(dir, CRLFile), "-CAfile", caFile, leaf)
	}
	crlOf(t, ca) // an empty CRL, signed at first use
	if o, err := verify(badFile); err != nil {
		t.Fatalf("before revocation openssl refused the leaf: %v\n%s", err, o)
	}
	revoke(t, ca, bad, agent.ReasonKeyCompromise)
	if o, err := verify(badFile); err == nil || !strings.Contains(o, "revoked") {
		t.Fatalf("openssl accepted the revoked leaf (err %v):\n%s", err, o)
	}
	if o, err := verify(goodFile); err != nil {
		t.Fatalf("openssl refused the good leaf: %v\n%s", err, o)
	}
	crl := crlOf(t, ca)
	if len(crl.RevokedCertificateEntries) != 1 || crl.RevokedCertificateEntries[0].ReasonCode != 1 ||
		crl.RevokedCertificateEntries[0].SerialNumber.Cmp(bad.Leaf.SerialNumber) != 0 {
		t.Fatalf("CRL entries = %+v", crl.RevokedCertificateEntries)
	}
	if fi, err := os.Stat(filepath.Join(dir, RevokedFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("revocation list: %v %v", fi, err)
	}
}

// The CRL number only increases: on each revocation, on re-signing at
// half the validity, and after a crash between the list and the CRL.
func TestCRLNumberAndResign(t *testing.T) {
	cfg := issuerCfg("ec256", 365*24*time.Hour)
	cfg.CRLValidity = config.Duration{Duration: 48 * time.Hour, Set: true}
	ca, dir := newCA(t, cfg)
	now := time.Now().Truncate(time.Second) // CRL times have whole seconds
	ca.now = func() time.Time { return now }
	a, b := issue(t, ca, webRequest()), issue(t, ca, webRequest())
	first := crlOf(t, ca)
	if got := first.NextUpdate.Sub(now); got != 48*time.Hour {
		t.Fatalf("nextUpdate - now = %s, want crl_validity 48h", got)
	}
	if again := crlOf(t, ca); again.Number.Cmp(first.Number) != 0 {
		t.Fatalf("a fresh CRL was re-signed: %s -> %s", first.Number, again.Number)
	}
	revoke(t, ca, a, agent.ReasonSuperseded)
	second := crlOf(t, ca)
	if second.Number.Cmp(first.Number) <= 0 || len(second.RevokedCertificateEntries) != 1 {
		t.Fatalf("after revoke: number %s (was %s), %d entries", second.Number, first.Number, len(second.RevokedCertificateEntries))
	}
	revoke(t, ca, a, agent.ReasonSuperseded) // already revoked: success, same list
	now = now.Add(25 * time.Hour)            // past half of 48h
	third := crlOf(t, ca)
	if third.Number.Cmp(second.Number) <= 0 || !third.ThisUpdate.After(second.ThisUpdate) {
		t.Fatalf("not re-signed at half validity: number %s, thisUpdate %s", third.Number, third.ThisUpdate)
	}
	// A crash after the list was written but before the CRL: the old CRL
	// is put back; the next call re-signs with a higher number and the
	// new serial.
	old, _ := os.ReadFile(filepath.Join(dir, CRLFile))
	revoke(t, ca, b, agent.ReasonKeyCompromise)
	if err := os.WriteFile(filepath.Join(dir, CRLFile), old, 0o600); err != nil {
		t.Fatal(err)
	}
	fourth := crlOf(t, ca)
	if fourth.Number.Cmp(third.Number) <= 0 || len(fourth.RevokedCertificateEntries) != 2 {
		t.Fatalf("after a lost CRL write: number %s, %d entries", fourth.Number, len(fourth.RevokedCertificateEntries))
	}
	// Expired leaves leave the CRL.
	now = a.Leaf.NotAfter.Add(time.Hour)
	if last := crlOf(t, ca); len(last.RevokedCertificateEntries) != 0 {
		t.Fatalf("expired entries kept: %d", len(last.RevokedCertificateEntries))
	}
}

// A cert from another CA is not revoked (and the list stays empty); a
// damaged list is an error, never an empty list.
func TestRevokeRefusals(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 24*time.Hour))
	other, _ := newCA(t, issuerCfg("ec256", 24*time.Hour))
	foreign := issue(t, other, webRequest())
	err := ca.Revoke(context.Background(), agent.RevokeRequest{Name: "web", Cert: foreign.Leaf})
	if err == nil || !strings.Contains(err.Error(), "not issued by this ca") {
		t.Fatalf("foreign cert: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, RevokedFile)); !os.IsNotExist(err) {
		t.Fatalf("a refused revoke wrote the list: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, RevokedFile), []byte("{trunc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.CRL(context.Background(), nil, nil); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("damaged list: %v", err)
	}
}

// crl_url becomes the leaves' CRL Distribution Point.
func TestCRLDistributionPoint(t *testing.T) {
	cfg := issuerCfg("ec256", 24*time.Hour)
	cfg.CRLURL = "http://ca.example.com/cluster.crl"
	ca, _ := newCA(t, cfg)
	b := issue(t, ca, webRequest())
	if got := b.Leaf.CRLDistributionPoints; len(got) != 1 || got[0] != cfg.CRLURL {
		t.Fatalf("CRLDistributionPoints = %v", got)
	}
	plain, _ := newCA(t, issuerCfg("ec256", 24*time.Hour))
	if got := issue(t, plain, webRequest()).Leaf.CRLDistributionPoints; len(got) != 0 {
		t.Fatalf("without crl_url: %v", got)
	}
	if blk, _ := pem.Decode(pki.EncodeCertsPEM(b.Leaf)); blk == nil {
		t.Fatal("pem")
	}
}

package localca

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"

	"github.com/certagent/certagent/internal/testbin"
)

func startRotation(t *testing.T, ca *CA, keep bool) *agent.CARotation {
	t.Helper()
	rec, err := ca.StartRotation(context.Background(), agent.RotationStart{Reason: "operator", Overlap: time.Hour, KeepOldKey: keep})
	if err != nil {
		t.Fatalf("StartRotation: %v", err)
	}
	return rec
}

func advance(t *testing.T, ca *CA, from string) {
	t.Helper()
	if err := ca.AdvanceRotation(context.Background(), from, time.Now()); err != nil {
		t.Fatalf("AdvanceRotation(%s): %v", from, err)
	}
}

func roots(t *testing.T, ca *CA) []*x509.Certificate {
	t.Helper()
	rs, err := ca.Roots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func sameRoots(t *testing.T, phase string, got []*x509.Certificate, want ...*x509.Certificate) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d roots, want %d", phase, len(got), len(want))
	}
	for i := range want {
		if !got[i].Equal(want[i]) {
			t.Errorf("%s: root %d is serial %s, want %s", phase, i, got[i].SerialNumber.Text(16), want[i].SerialNumber.Text(16))
		}
	}
}

// Each phase signs with the CA and publishes the roots it should; at the
// end the new CA is ca.* and the old key is gone from the directory.
func TestRotationPhases(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 24*time.Hour))
	before := issue(t, ca, webRequest())
	oldCA := before.Roots[0]
	oldKey, _ := os.ReadFile(filepath.Join(dir, KeyFile))

	rec := startRotation(t, ca, false)
	if rec.Phase != agent.PhasePublish || rec.Old == nil || !rec.Old.Equal(oldCA) || rec.New == nil || rec.New.Equal(oldCA) {
		t.Fatalf("start: %+v", rec)
	}
	newCA := rec.New
	if again := startRotation(t, ca, false); again.NewSerial != rec.NewSerial {
		t.Errorf("a second start made another CA: %s, then %s", rec.NewSerial, again.NewSerial)
	}
	sameRoots(t, "publish", roots(t, ca), oldCA, newCA)
	if b := issue(t, ca, webRequest()); b.Leaf.CheckSignatureFrom(oldCA) != nil {
		t.Error("publish: leaf not signed by the old CA; new leaves must wait until every ca_file has both roots")
	}

	advance(t, ca, agent.PhasePublish)
	sameRoots(t, "reissue", roots(t, ca), newCA, oldCA)
	if b := issue(t, ca, webRequest()); b.Leaf.CheckSignatureFrom(newCA) != nil {
		t.Error("reissue: leaf not signed by the new CA")
	}
	if got, _ := ca.Rotation(context.Background()); got == nil || got.Phase != agent.PhaseReissue || got.ReissueFrom.IsZero() {
		t.Errorf("reissue record: %+v", got)
	}

	advance(t, ca, agent.PhaseReissue)
	sameRoots(t, "retire", roots(t, ca), newCA)

	advance(t, ca, agent.PhaseRetire)
	if got, err := ca.Rotation(context.Background()); got != nil || err != nil {
		t.Fatalf("after the rotation: %+v, %v", got, err)
	}
	sameRoots(t, "done", roots(t, ca), newCA)
	fresh := New("cluster", dir, issuerCfg("ec256", 24*time.Hour)) // what the next start loads
	sameRoots(t, "reloaded", roots(t, fresh), newCA)
	if b := issue(t, fresh, webRequest()); b.Leaf.CheckSignatureFrom(newCA) != nil {
		t.Error("after the rotation: leaf not signed by the new CA")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if bytes.Contains(b, bytes.TrimSpace(oldKey)) {
			t.Errorf("the old CA key is still in %s (ca_key_after_rotation = delete)", e.Name())
		}
		switch e.Name() {
		case KeyFile, CertFile, RevokedFile, CRLFile:
		default:
			t.Errorf("left over in the CA directory: %s", e.Name())
		}
	}
}

// ca_key_after_rotation = "keep" keeps the old pair as old-<serial>.*.
func TestRotationKeepsOldKey(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 24*time.Hour))
	oldCA := roots(t, ca)[0]
	oldKey, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	rec := startRotation(t, ca, true)
	for _, p := range []string{agent.PhasePublish, agent.PhaseReissue, agent.PhaseRetire} {
		advance(t, ca, p)
	}
	kept, err := os.ReadFile(filepath.Join(dir, "old-"+rec.OldSerial+".key"))
	if err != nil || !bytes.Equal(kept, oldKey) {
		t.Fatalf("old key not kept: %v", err)
	}
	crt, _ := os.ReadFile(filepath.Join(dir, "old-"+rec.OldSerial+".crt"))
	if !bytes.Equal(crt, pki.EncodeCertsPEM(oldCA)) {
		t.Error("old CA certificate not kept")
	}
	if m := mode(t, filepath.Join(dir, "old-"+rec.OldSerial+".key")); m != 0o600 {
		t.Errorf("kept key mode %o", m)
	}
}

// A kill between the two renames of the swap leaves ca.key new and
// ca.crt old: the record (still "swap") makes readers use next.*, and
// the next call finishes.
func TestRotationResumesMidSwap(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 24*time.Hour))
	roots(t, ca) // creates the CA
	rec := startRotation(t, ca, false)
	advance(t, ca, agent.PhasePublish)
	advance(t, ca, agent.PhaseReissue)
	rec.Phase = agent.PhaseSwap
	if err := ca.writeRecord(rec); err != nil {
		t.Fatal(err)
	}
	nk, _ := os.ReadFile(filepath.Join(dir, NextKeyFile))
	if err := os.WriteFile(filepath.Join(dir, KeyFile), nk, 0o600); err != nil {
		t.Fatal(err)
	}
	other := New("cluster", dir, issuerCfg("ec256", 24*time.Hour)) // another process
	sameRoots(t, "mid-swap", roots(t, other), rec.New)
	if b := issue(t, other, webRequest()); b.Leaf.CheckSignatureFrom(rec.New) != nil {
		t.Error("mid-swap: leaf not signed by the new CA")
	}
	advance(t, other, agent.PhaseSwap)
	if got, _ := other.Rotation(context.Background()); got != nil {
		t.Fatalf("rotation not finished: %+v", got)
	}
	sameRoots(t, "done", roots(t, New("cluster", dir, issuerCfg("ec256", 24*time.Hour))), rec.New)
}

// Each generation keeps its own revocation list and CRL during the
// overlap; openssl with both CRLs in one file (as crl_file carries them)
// refuses the revoked leaf of either CA and accepts the others.
func TestRotationCRLs(t *testing.T) {
	bin := testbin.OpenSSL(t)
	ca, _ := newCA(t, issuerCfg("ec256", 24*time.Hour))
	oldGood, oldBad := issue(t, ca, webRequest()), issue(t, ca, webRequest())
	rec := startRotation(t, ca, false)
	advance(t, ca, agent.PhasePublish)
	newGood, newBad := issue(t, ca, webRequest()), issue(t, ca, webRequest())
	revoke(t, ca, oldBad, agent.ReasonKeyCompromise)
	revoke(t, ca, newBad, agent.ReasonSuperseded)

	ctx := context.Background()
	oldDER, err := ca.CRL(ctx, oldGood.Leaf, nil)
	if err != nil {
		t.Fatal(err)
	}
	newDER, err := ca.CRL(ctx, newGood.Leaf, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldCRL, _ := x509.ParseRevocationList(oldDER)
	newCRL, _ := x509.ParseRevocationList(newDER)
	if oldCRL.CheckSignatureFrom(rec.Old) != nil || len(oldCRL.RevokedCertificateEntries) != 1 ||
		oldCRL.RevokedCertificateEntries[0].SerialNumber.Cmp(oldBad.Leaf.SerialNumber) != 0 {
		t.Errorf("old CA's CRL: signed by the old CA with only its revoked leaf, got %d entries", len(oldCRL.RevokedCertificateEntries))
	}
	if newCRL.CheckSignatureFrom(rec.New) != nil || len(newCRL.RevokedCertificateEntries) != 1 {
		t.Errorf("new CA's CRL: signed by the new CA with only its revoked leaf, got %d entries", len(newCRL.RevokedCertificateEntries))
	}
	others, err := ca.OtherCRLs(ctx, newGood.Leaf)
	if err != nil || len(others) != 1 || !bytes.Equal(others[0], oldDER) {
		t.Fatalf("OtherCRLs for a new leaf: %d CRLs, %v", len(others), err)
	}

	out := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(out, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile := write("ca.pem", pki.EncodeCertsPEM(roots(t, ca)...))
	crlFile := write("crl.pem", append(pemCRL(newDER), pemCRL(oldDER)...))
	for _, c := range []struct {
		name string
		b    *agent.Bundle
		ok   bool
	}{{"old good", oldGood, true}, {"old revoked", oldBad, false}, {"new good", newGood, true}, {"new revoked", newBad, false}} {
		leaf := write(c.name+".pem", pki.EncodeCertsPEM(c.b.Leaf))
		o, err := openssl(t, bin, "verify", "-crl_check", "-CRLfile", crlFile, "-CAfile", caFile, leaf)
		if (err == nil) != c.ok {
			t.Errorf("%s: openssl verify -crl_check: err %v, want ok=%v\n%s", c.name, err, c.ok, o)
		}
	}
}

func pemCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

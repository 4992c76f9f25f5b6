package localca

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
)

func issuerCfg(kt string, validity time.Duration) *config.Issuer {
	return &config.Issuer{Type: "local", KeyType: kt, CommonName: "certagent test ca",
		Validity: config.Duration{Duration: validity, Set: true}}
}

// newCA returns a CA in a fresh state dir, and its directory.
func newCA(t *testing.T, cfg *config.Issuer) (*CA, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ca", "cluster")
	return New("cluster", dir, cfg), dir
}

func webRequest() agent.Request {
	return agent.Request{
		Name: "web", CommonName: "web.example.com",
		DNSNames:    []string{"web.example.com", "localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		ServerAuth:  true, KeyType: pki.KeyEC256, Validity: 30 * 24 * time.Hour,
	}
}

func issue(t *testing.T, ca *CA, req agent.Request) *agent.Bundle {
	t.Helper()
	b, err := ca.Issue(context.Background(), req)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return b
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func TestCreatesCAOnFirstUse(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec384", 365*24*time.Hour))
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("New must touch nothing; stat: %v", err)
	}
	fixed := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	ca.now = func() time.Time { return fixed }
	b := issue(t, ca, webRequest())

	if m := mode(t, dir); m != 0o700 {
		t.Errorf("ca dir mode %04o, want 0700", m)
	}
	for _, f := range []string{KeyFile, CertFile} {
		if m := mode(t, filepath.Join(dir, f)); m != 0o600 {
			t.Errorf("%s mode %04o, want 0600", f, m)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Errorf("temp dirs left next to the ca dir: %v", entries)
	}
	r := pki.Inspect(filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile), pki.Expect{KeyType: pki.KeyEC384}, fixed)
	if !r.OK() {
		t.Fatalf("ca files: %v", r.Problems)
	}
	c := r.Leaf
	if !c.Equal(b.Roots[0]) || len(b.Roots) != 1 || b.Chain != nil {
		t.Fatalf("bundle roots/chain wrong: %d roots, chain %v", len(b.Roots), b.Chain)
	}
	switch {
	case !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero:
		t.Errorf("basic constraints: ca=%v pathlen=%d zero=%v", c.IsCA, c.MaxPathLen, c.MaxPathLenZero)
	case c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		t.Errorf("ca key usage %b", c.KeyUsage)
	case c.Subject.CommonName != "certagent test ca" || c.Issuer.CommonName != "certagent test ca":
		t.Errorf("ca names %q / %q", c.Subject, c.Issuer)
	case !c.NotBefore.Equal(fixed.Add(-Backdate)) || !c.NotAfter.Equal(fixed.Add(365*24*time.Hour)):
		t.Errorf("ca validity %s .. %s", c.NotBefore, c.NotAfter)
	case c.SerialNumber.BitLen() != 128:
		t.Errorf("ca serial has %d bits", c.SerialNumber.BitLen())
	case c.CheckSignatureFrom(c) != nil:
		t.Errorf("ca is not self-signed")
	}
	if ski, _ := subjectKeyID(c.PublicKey); !bytes.Equal(c.SubjectKeyId, ski) || len(ski) != sha1.Size {
		t.Errorf("ca ski %x, want %x", c.SubjectKeyId, ski)
	}
}

func TestReusesCAAcrossNew(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 0))
	first := issue(t, ca, webRequest())
	keyBefore, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	certBefore, _ := os.ReadFile(filepath.Join(dir, CertFile))

	// A new process: config changes do not replace an existing CA.
	again := New("cluster", dir, issuerCfg("rsa2048", time.Hour))
	roots, err := again.Roots(context.Background())
	if err != nil || len(roots) != 1 || !roots[0].Equal(first.Roots[0]) {
		t.Fatalf("Roots after restart: %v, %v", roots, err)
	}
	second := issue(t, again, webRequest())
	if err := second.Leaf.CheckSignatureFrom(first.Roots[0]); err != nil {
		t.Fatalf("second leaf not signed by the first ca: %v", err)
	}
	keyAfter, _ := os.ReadFile(filepath.Join(dir, KeyFile))
	certAfter, _ := os.ReadFile(filepath.Join(dir, CertFile))
	if !bytes.Equal(keyBefore, keyAfter) || !bytes.Equal(certBefore, certAfter) {
		t.Fatal("ca files were rewritten")
	}
}

func TestRefusesBrokenCA(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 0))
	issue(t, ca, webRequest())
	other, otherDir := newCA(t, issuerCfg("ec256", 0))
	issue(t, other, webRequest())
	keyPath, certPath := filepath.Join(dir, KeyFile), filepath.Join(dir, CertFile)
	goodKey, _ := os.ReadFile(keyPath)
	goodCert, _ := os.ReadFile(certPath)
	otherCert, _ := os.ReadFile(filepath.Join(otherDir, CertFile))

	cases := []struct {
		name        string
		key, cert   []byte // nil: file absent
		want        string
		notModified bool
	}{
		{"key only", goodKey, nil, `local ca "cluster": ` + keyPath + ` exists but ` + certPath + ` is missing; refusing to create a new ca (restore ca.crt, or remove ` + dir + ` to start a new ca)`, true},
		{"cert only", nil, goodCert, `local ca "cluster": ` + certPath + ` exists but ` + keyPath + ` is missing; refusing to create a new ca that existing certificates would not chain to (restore ca.key, or remove ` + dir + ` to start a new ca)`, true},
		{"mismatch", goodKey, otherCert, `local ca "cluster": ` + keyPath + ` does not match ` + certPath + `; refusing to create a new ca (restore the matching pair, or remove ` + dir + ` to start a new ca)`, true},
		{"garbage cert", goodKey, []byte("junk\n"), `local ca "cluster": ` + certPath + `: no pem data found, expected a pem certificate`, true},
	}
	for _, c := range cases {
		for p, b := range map[string][]byte{keyPath: c.key, certPath: c.cert} {
			os.Remove(p)
			if b != nil {
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		fresh := New("cluster", dir, issuerCfg("ec256", 0))
		_, err := fresh.Issue(context.Background(), webRequest())
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error = %v\nwant %s", c.name, err, c.want)
		}
		if _, err := fresh.Roots(context.Background()); err == nil {
			t.Errorf("%s: Roots must fail too", c.name)
		}
		for p, b := range map[string][]byte{keyPath: c.key, certPath: c.cert} {
			got, err := os.ReadFile(p)
			if (b == nil) != errors.Is(err, os.ErrNotExist) || !bytes.Equal(got, b) {
				t.Errorf("%s: %s was modified", c.name, p)
			}
		}
	}
}

func TestJunkInCADirIsNotOverwritten(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 0))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	junk := filepath.Join(dir, "notes.txt")
	os.WriteFile(junk, []byte("x"), 0o600)
	_, err := ca.Issue(context.Background(), webRequest())
	want := `local ca "cluster": ` + dir + ` is not empty but holds no ca; move its files away`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	if _, err := os.Stat(junk); err != nil {
		t.Fatal("junk file removed")
	}
	// An empty directory (e.g. made by packaging) is fine.
	os.Remove(junk)
	issue(t, ca, webRequest())
}

func TestRemovesStaleTempDirs(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 0))
	stale := filepath.Join(filepath.Dir(dir), ".cluster.new-123") // an earlier release's name
	staleNew := filepath.Join(filepath.Dir(dir), safefile.TempName("cluster"))
	fresh := filepath.Join(filepath.Dir(dir), ".cluster.new-456")
	for _, d := range []string{stale, staleNew, fresh} {
		os.MkdirAll(d, 0o700)
		os.WriteFile(filepath.Join(d, KeyFile), []byte("half"), 0o600)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(stale, old, old)
	os.Chtimes(staleNew, old, old)
	issue(t, ca, webRequest())
	for _, d := range []string{stale, staleNew} {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("stale temp dir %s kept: %v", d, err)
		}
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("recent temp dir (maybe another process) removed: %v", err)
	}
}

func TestExistingRootsCreatesNothing(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("ec256", 0))
	roots, err := ca.ExistingRoots(context.Background())
	if err != nil || roots == nil || len(roots) != 0 {
		t.Fatalf("ExistingRoots before creation = %v, %v; want empty non-nil", roots, err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("ExistingRoots created files")
	}
	b := issue(t, ca, webRequest())
	roots, err = New("cluster", dir, nil).ExistingRoots(context.Background())
	if err != nil || len(roots) != 1 || !roots[0].Equal(b.Roots[0]) {
		t.Fatalf("ExistingRoots after creation = %v, %v", roots, err)
	}
}

func TestBadConfigAndRequest(t *testing.T) {
	ca, _ := newCA(t, issuerCfg("dsa", 0))
	_, err := ca.Issue(context.Background(), webRequest())
	if want := `local ca "cluster": key_type: unknown key type "dsa" (use one of ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	ca, _ = newCA(t, nil)
	_, err = ca.Issue(context.Background(), agent.Request{Name: "empty"})
	if want := `local ca "cluster": cert "empty" has no common name, dns names or ip addresses`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
	req := webRequest()
	req.KeyType = "rsa1024"
	_, err = ca.Issue(context.Background(), req)
	if want := `local ca "cluster": cert "web": unknown key type "rsa1024" (use one of ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %s", err, want)
	}
}

func TestCancelledContextCreatesNothing(t *testing.T) {
	ca, dir := newCA(t, issuerCfg("rsa4096", 0))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ca.Issue(ctx, webRequest()); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if _, err := ca.Roots(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Roots error = %v, want context.Canceled", err)
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a cancelled Issue created files")
	}
}

// TestCreateLosesRaceToOtherProcess drives the path where another
// process renamed its CA into place between our check and our rename.
func TestCreateLosesRaceToOtherProcess(t *testing.T) {
	winner, dir := newCA(t, issuerCfg("ec256", 0))
	roots, err := winner.Roots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	loser := New("cluster", dir, issuerCfg("ec256", 0))
	_, cert, err := loser.create(context.Background())
	if err != nil || !cert.Equal(roots[0]) {
		t.Fatalf("create after another process won: %v (same ca: %v)", err, err == nil && cert.Equal(roots[0]))
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 {
		t.Fatalf("loser left its temp dir: %v", entries)
	}
}

package agent

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// hostileOut makes an output directory owned by the service user holding
// a real cert.pem, and a root-only directory with a decoy key.pem.
func hostileOut(t *testing.T) (out, rootOnly string, decoy []byte) {
	t.Helper()
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	out, rootOnly = filepath.Join(base, "out"), filepath.Join(base, "root-only")
	for _, d := range []string{out, rootOnly} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "x"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	if err := os.WriteFile(filepath.Join(out, "cert.pem"), pki.EncodeCertsPEM(leaf), 0o644); err != nil {
		t.Fatal(err)
	}
	decoy = []byte("root's own key\n")
	if err := os.WriteFile(filepath.Join(rootOnly, "key.pem"), decoy, 0o600); err != nil {
		t.Fatal(err)
	}
	hostiletest.Own(t, out)
	return out, rootOnly, decoy
}

// Issue 12 item 10: remove_key_after_start must not delete through a
// directory the service user swapped for a symlink to a root directory.
func TestRemoveKeyRefusesPlantedDirLink(t *testing.T) {
	out, rootOnly, decoy := hostileOut(t)
	hostiletest.Link(t, rootOnly, filepath.Join(out, "keys"))
	c := &config.Cert{Name: "web", CertFile: filepath.Join(out, "cert.pem"), KeyFile: filepath.Join(out, "keys", "key.pem")}
	err := removeKey(t.TempDir(), c)
	if !errors.Is(err, safefile.ErrUntrusted) || !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("removeKey through a planted link = %v, want a refusal", err)
	}
	b, rerr := os.ReadFile(filepath.Join(rootOnly, "key.pem"))
	if rerr != nil || !bytes.Equal(b, decoy) {
		t.Fatalf("decoy key deleted or changed: %q, %v", b, rerr)
	}
	// The same link at the key itself is refused too (no follow_symlinks).
	hostiletest.Link(t, filepath.Join(rootOnly, "key.pem"), filepath.Join(out, "key.pem"))
	c.KeyFile = filepath.Join(out, "key.pem")
	c.FollowSymlinks = true
	if err := removeKey(t.TempDir(), c); !errors.Is(err, safefile.ErrUntrusted) {
		t.Fatalf("removeKey of a planted final link with follow_symlinks = %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(rootOnly, "key.pem")); err != nil {
		t.Fatalf("decoy key deleted: %v", err)
	}
}

// Issue 12 item 7 for the managed-cert checks: whether a file behind a
// planted directory link exists must not show in the report.
func TestInspectCertPlantedLinkHidesExistence(t *testing.T) {
	out, rootOnly, _ := hostileOut(t)
	hostiletest.Link(t, rootOnly, filepath.Join(out, "probe"))
	if err := os.WriteFile(filepath.Join(rootOnly, "ca.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	report := func(name string) []pki.Problem {
		c := &config.Cert{Name: "web", CertFile: filepath.Join(out, "cert.pem"),
			KeyFile: filepath.Join(out, "probe", "key.pem"), CAFile: filepath.Join(out, "probe", name),
			RemoveKeyAfterStart: true}
		rep, _ := InspectCert(t.TempDir(), c, pki.Expect{}, time.Now())
		for i := range rep.Problems {
			rep.Problems[i].File = filepath.Base(rep.Problems[i].File)
		}
		return rep.Problems
	}
	exists, missing := report("ca.pem"), report("nope.pem")
	if len(exists) == 0 {
		t.Fatal("no problem reported for files behind a planted link")
	}
	if len(exists) != len(missing) {
		t.Fatalf("existing target %v, missing target %v: the report tells them apart", exists, missing)
	}
	for i := range exists {
		if exists[i].Kind != missing[i].Kind || exists[i].Detail != missing[i].Detail {
			t.Fatalf("existing target %v, missing target %v: the report tells them apart", exists, missing)
		}
	}
	for _, p := range exists {
		if p.Kind == pki.ProblemMissing {
			t.Fatalf("problem %v says missing", p)
		}
	}
}

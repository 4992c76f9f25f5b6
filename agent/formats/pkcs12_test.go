package formats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// TestPKCS12IterationsOpenSSL: OpenSSL reads the archive and reports the
// configured PBKDF2 count for the MAC and the key bag; the default is the
// encrypted key's 100,000, not the Modern profile's 2,048 (issue 12 item 9).
func TestPKCS12IterationsOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "p12"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	for _, tc := range []struct {
		iterations int
		want       string
	}{{0, "100000"}, {25000, "25000"}} {
		p12, err := EncodePKCS12(key, leaf, nil, []byte("Secret-pw1"), tc.iterations)
		if err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(t.TempDir(), "a.p12")
		if err := os.WriteFile(f, p12, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "pkcs12", "-info", "-noout", "-passin", "pass:Secret-pw1", "-in", f).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs12 -info: %v\n%s", err, out)
		}
		mac := regexp.MustCompile(`(?m)^MAC: sha256, Iteration (\d+)$`).FindSubmatch(out)
		bag := regexp.MustCompile(`(?m)^Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration (\d+),`).FindSubmatch(out)
		if mac == nil || bag == nil || string(mac[1]) != tc.want || string(bag[1]) != tc.want {
			t.Errorf("iterations %d: openssl reports MAC %q, key bag %q, want %s for both\n%s", tc.iterations, mac, bag, tc.want, out)
		}
	}
}

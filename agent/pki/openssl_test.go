package pki

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/testbin"
)

// TestParseKeyPEMFromOpenSSL reads the key files openssl writes in its
// common forms, and checks that openssl reads every form we write.
func TestParseKeyPEMFromOpenSSL(t *testing.T) {
	bin := testbin.OpenSSL(t)
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want KeyType
	}{
		{"genpkey-ec", []string{"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"}, KeyEC256},
		{"ecparam-sec1", []string{"ecparam", "-genkey", "-name", "secp384r1"}, KeyEC384},
		{"genrsa-traditional", []string{"genrsa", "-traditional", "2048"}, KeyRSA2048},
		{"genpkey-rsa", []string{"genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"}, KeyRSA2048},
		{"genpkey-ed25519", []string{"genpkey", "-algorithm", "ED25519"}, KeyEd25519},
	}
	for _, c := range cases {
		p := filepath.Join(dir, c.name+".pem")
		testbin.Run(t, bin, append([]string{c.args[0], "-out", p}, c.args[1:]...)...)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ParseKeyPEM(b)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if kt, _ := KeyTypeOf(k); kt != c.want {
			t.Fatalf("%s: key type %q, want %q", c.name, kt, c.want)
		}
	}

	enc := filepath.Join(dir, "enc.pem")
	testbin.Run(t, bin, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret", "-out", enc)
	b, _ := os.ReadFile(enc)
	if _, err := ParseKeyPEM(b); err == nil || !strings.HasPrefix(err.Error(), "private key is encrypted") {
		t.Fatalf("encrypted key: %v", err)
	}
	der := filepath.Join(dir, "key.der")
	testbin.Run(t, bin, "pkey", "-in", filepath.Join(dir, "genpkey-ec.pem"), "-outform", "DER", "-out", der)
	b, _ = os.ReadFile(der)
	if _, err := ParseKeyPEM(b); err == nil || !strings.HasPrefix(err.Error(), "looks like DER") {
		t.Fatalf("der key: %v", err)
	}

	for _, f := range []struct {
		kt     KeyType
		format string
	}{{KeyEC256, "pkcs8"}, {KeyEC256, "sec1"}, {KeyRSA2048, "pkcs1"}, {KeyRSA2048, "pkcs8"}, {KeyEd25519, "pkcs8"}} {
		b, err := EncodeKeyPEM(testKey(t, f.kt, "openssl"), f.format)
		if err != nil {
			t.Fatal(err)
		}
		p := writeFile(t, dir, string(f.kt)+f.format+".pem", b)
		testbin.Run(t, bin, "pkey", "-in", p, "-noout")
	}
}

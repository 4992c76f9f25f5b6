package pki

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

func TestParseKeyType(t *testing.T) {
	for _, kt := range KeyTypes {
		got, err := ParseKeyType(string(kt))
		if err != nil || got != kt {
			t.Errorf("ParseKeyType(%q) = %q, %v", kt, got, err)
		}
	}
	for in, want := range map[string]string{
		"":        "empty key type (use one of ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)",
		"RSA2048": `unknown key type "RSA2048" (use one of ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)`,
		"dsa":     `unknown key type "dsa" (use one of ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)`,
	} {
		_, err := ParseKeyType(in)
		if err == nil || err.Error() != want {
			t.Errorf("ParseKeyType(%q) error = %v, want %q", in, err, want)
		}
	}
}

func TestGenerateKeyRoundTrip(t *testing.T) {
	for _, kt := range KeyTypes {
		if kt == KeyRSA4096 && testing.Short() {
			continue
		}
		t.Run(string(kt), func(t *testing.T) {
			k := testKey(t, kt, "gen")
			got, err := KeyTypeOf(k.Public())
			if err != nil || got != kt {
				t.Fatalf("KeyTypeOf(public) = %q, %v; want %q", got, err, kt)
			}
			if got, _ := KeyTypeOf(k); got != kt {
				t.Fatalf("KeyTypeOf(signer) = %q, want %q", got, kt)
			}
		})
	}
	if _, err := GenerateKey("rsa1024"); err == nil || err.Error() != `unknown key type "rsa1024" (use one of ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)` {
		t.Fatalf("GenerateKey(rsa1024) error = %v", err)
	}
}

func TestKeyTypeOfUnsupported(t *testing.T) {
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	x25519, _ := ecdh.X25519().GenerateKey(rand.Reader)
	cases := []struct {
		name string
		pub  any
		want string
	}{
		{"p521", &p521.PublicKey, "unsupported ecdsa curve P-521 (supported: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)"},
		{"rsa1024", &rsa1024.PublicKey, "unsupported rsa key size 1024 bits (supported: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)"},
		{"x25519", x25519.PublicKey(), "unsupported public key type *ecdh.PublicKey (supported: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)"},
		{"nil", nil, "no public key"},
	}
	for _, c := range cases {
		_, err := KeyTypeOf(c.pub)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: KeyTypeOf error = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestRSABits(t *testing.T) {
	for kt, want := range map[KeyType]int{KeyRSA2048: 2048, KeyRSA3072: 3072, KeyRSA4096: 4096, KeyEC256: 0, KeyEd25519: 0} {
		if got := kt.RSABits(); got != want {
			t.Errorf("%s.RSABits() = %d, want %d", kt, got, want)
		}
	}
}

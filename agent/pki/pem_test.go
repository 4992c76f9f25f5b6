package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestEncodeParseKeyRoundTrip(t *testing.T) {
	cases := []struct {
		kt     KeyType
		format string
		block  string
	}{
		{KeyEC256, "", "PRIVATE KEY"},
		{KeyEC384, "pkcs8", "PRIVATE KEY"},
		{KeyEC256, "sec1", "EC PRIVATE KEY"},
		{KeyRSA2048, "pkcs8", "PRIVATE KEY"},
		{KeyRSA2048, "pkcs1", "RSA PRIVATE KEY"},
		{KeyEd25519, "", "PRIVATE KEY"},
	}
	for _, c := range cases {
		k := testKey(t, c.kt, "pem")
		b, err := EncodeKeyPEM(k, c.format)
		if err != nil {
			t.Fatalf("%s/%s: %v", c.kt, c.format, err)
		}
		if blk, _ := pem.Decode(b); blk == nil || blk.Type != c.block {
			t.Fatalf("%s/%s: block = %+v, want type %q", c.kt, c.format, blk, c.block)
		}
		got, err := ParseKeyPEM(b)
		if err != nil {
			t.Fatalf("%s/%s: parse: %v", c.kt, c.format, err)
		}
		if !got.Public().(interface {
			Equal(crypto.PublicKey) bool
		}).Equal(k.Public()) {
			t.Fatalf("%s/%s: parsed key differs", c.kt, c.format)
		}
	}
}

func TestEncodeKeyPEMErrors(t *testing.T) {
	ec := testKey(t, KeyEC256, "pem")
	rsaKey := testKey(t, KeyRSA2048, "pem")
	ed := testKey(t, KeyEd25519, "pem")
	cases := []struct {
		name   string
		key    crypto.Signer
		format string
		want   string
	}{
		{"pkcs1 ec", ec, "pkcs1", `key format "pkcs1" needs an rsa key, not ec256 (use "pkcs8")`},
		{"sec1 rsa", rsaKey, "sec1", `key format "sec1" needs an ecdsa key, not rsa2048 (use "pkcs8")`},
		{"sec1 ed25519", ed, "sec1", `key format "sec1" needs an ecdsa key, not ed25519 (use "pkcs8")`},
		{"unknown", ec, "der", `unknown key format "der" (use pkcs8, pkcs1 or sec1)`},
		{"nil", nil, "", "encode key: no key"},
	}
	for _, c := range cases {
		_, err := EncodeKeyPEM(c.key, c.format)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestParseKeyPEMErrors(t *testing.T) {
	ec := testKey(t, KeyEC256, "pem")
	good := keyPEM(t, ec)
	der, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec.(*ecdsa.PrivateKey))
	x, _ := ecdh.X25519().GenerateKey(rand.Reader)
	xder, _ := x509.MarshalPKCS8PrivateKey(x)
	enc := func(typ string, h map[string]string, b []byte) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Headers: h, Bytes: b})
	}
	corrupt := enc("PRIVATE KEY", nil, der[:len(der)-4])
	const encMsg = "private key is encrypted; certagent needs an unencrypted key (decrypt it with: openssl pkey -in FILE -out FILE.new)"
	cases := []struct {
		name  string
		in    []byte
		want  string
		isPre bool
	}{
		{"empty", nil, "empty input, expected a pem private key", false},
		{"blank", []byte(" \n\t\n"), "empty input, expected a pem private key", false},
		{"garbage", []byte("hello, this is not a key\n"), "no pem data found, expected a pem private key", false},
		{"der", der, "looks like DER, expected PEM (convert with: openssl pkey -inform der -in FILE -out FILE.pem)", false},
		{"encrypted pkcs8", enc("ENCRYPTED PRIVATE KEY", nil, []byte{0x30, 0}), encMsg, false},
		{"encrypted legacy", enc("EC PRIVATE KEY", map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, sec1), encMsg, false},
		{"cert", enc("CERTIFICATE", nil, []byte{0x30, 0}), "found a certificate where a private key was expected (is this the cert file?)", false},
		{"openssh", enc("OPENSSH PRIVATE KEY", nil, []byte("x")), `unsupported pem block "OPENSSH PRIVATE KEY" (expected "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY")`, false},
		{"dsa", enc("DSA PRIVATE KEY", nil, []byte("x")), `unsupported pem block "DSA PRIVATE KEY" (expected "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY")`, false},
		{"two keys", append(append([]byte{}, good...), good...), `more than one pem block: block 2 is "PRIVATE KEY" after the private key (a key file holds one key only)`, false},
		{"key then cert", append(append([]byte{}, good...), enc("CERTIFICATE", nil, []byte{1})...), `more than one pem block: block 2 is "CERTIFICATE" after the private key (a key file holds one key only)`, false},
		{"truncated", good[:len(good)-30], "pem block 1 is malformed or truncated", false},
		{"corrupt asn1", corrupt, `bad "PRIVATE KEY" block: `, true},
		{"x25519", enc("PRIVATE KEY", nil, xder), "unsupported private key type *ecdh.PrivateKey (supported: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)", false},
		{"only params", enc("EC PARAMETERS", nil, []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}), "no private key found (only ec parameters)", false},
	}
	for _, c := range cases {
		k, err := ParseKeyPEM(c.in)
		if err == nil {
			t.Errorf("%s: no error, got %T", c.name, k)
			continue
		}
		if got := err.Error(); got != c.want && !(c.isPre && strings.HasPrefix(got, c.want)) {
			t.Errorf("%s: error = %q, want %q", c.name, got, c.want)
		}
		assertNoSecret(t, err.Error(), good)
	}
}

func TestParseKeyPEMSkipsECParameters(t *testing.T) {
	ec := testKey(t, KeyEC256, "pem")
	b, _ := EncodeKeyPEM(ec, "sec1")
	params := pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}})
	k, err := ParseKeyPEM(append(params, b...))
	if err != nil {
		t.Fatal(err)
	}
	if kt, _ := KeyTypeOf(k); kt != KeyEC256 {
		t.Fatalf("key type %q", kt)
	}
}

func TestParseCertsPEM(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	b := EncodeCertsPEM(h.leaf, h.inter)
	// Text between blocks is allowed, as openssl allows it.
	withText := append([]byte("subject=CN=web\n"), b...)
	certs, err := ParseCertsPEM(withText)
	if err != nil {
		t.Fatal(err)
	}
	if len(certs) != 2 || !certs[0].Equal(h.leaf) || !certs[1].Equal(h.inter) {
		t.Fatalf("got %d certs in the wrong order", len(certs))
	}
}

func TestParseCertsPEMErrors(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	leaf := EncodeCertsPEM(h.leaf)
	key := keyPEM(t, h.leafKey)
	bad := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 3, 1, 2, 3}})
	cases := []struct {
		name  string
		in    []byte
		want  string
		isPre bool
	}{
		{"empty", []byte{}, "empty input, expected a pem certificate", false},
		{"garbage", []byte("\x00\x01binary junk"), "no pem data found, expected a pem certificate", false},
		{"der", h.leaf.Raw, "looks like DER, expected PEM (convert with: openssl x509 -inform der -in FILE -out FILE.pem)", false},
		{"key in cert file", append(append([]byte{}, leaf...), key...), `pem block 2 is "PRIVATE KEY", expected "CERTIFICATE" (a cert file must hold certificates only)`, false},
		{"key only", key, `pem block 1 is "PRIVATE KEY", expected "CERTIFICATE" (a cert file must hold certificates only)`, false},
		{"truncated second", append(append([]byte{}, leaf...), leaf[:len(leaf)/2]...), "pem block 2 is malformed or truncated", false},
		{"bad der", bad, "certificate 1: x509: ", true},
	}
	for _, c := range cases {
		_, err := ParseCertsPEM(c.in)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		if got := err.Error(); got != c.want && !(c.isPre && strings.HasPrefix(got, c.want)) {
			t.Errorf("%s: error = %q, want %q", c.name, got, c.want)
		}
		assertNoSecret(t, err.Error(), key)
	}
}

func TestEncodeCertsPEM(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	b := EncodeCertsPEM(h.leaf, h.inter, h.root)
	if n := bytes.Count(b, []byte("-----BEGIN CERTIFICATE-----\n")); n != 3 {
		t.Fatalf("%d blocks, want 3", n)
	}
	if len(EncodeCertsPEM()) != 0 {
		t.Fatal("no certs must encode to nothing")
	}
}

func TestKeyMatches(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	if !KeyMatches(h.leaf, h.leafKey) {
		t.Fatal("leaf key must match")
	}
	if KeyMatches(h.leaf, h.interKey) {
		t.Fatal("intermediate key must not match the leaf")
	}
	if KeyMatches(nil, h.leafKey) || KeyMatches(h.leaf, nil) {
		t.Fatal("nil must not match")
	}
	rsaKey := testKey(t, KeyRSA2048, "pem")
	if KeyMatches(h.leaf, rsaKey) {
		t.Fatal("rsa key must not match an ec cert")
	}
}

package localca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

const reuseConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
key_type = "{{kt}}"
cert_file = "{{dir}}/out/cert.pem"
key_file = "{{dir}}/out/key.pem"
reuse_key = {{reuse}}
`

// renewWith runs one forced `certagent renew --local` pass of the agent
// with the local CA over dir, and returns the leaf then on disk.
func renewWith(t *testing.T, dir, kt string, reuse bool) *x509.Certificate {
	t.Helper()
	text := strings.NewReplacer("{{dir}}", dir, "{{kt}}", kt, "{{reuse}}", map[bool]string{true: "true", false: "false"}[reuse]).Replace(reuseConfig)
	cfg, err := config.Parse("test.toml", []byte(text), config.Options{SkipFileChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.StateDir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	ca := localca.New("ca", filepath.Join(cfg.Agent.StateDir, "ca", "ca"), cfg.Issuers["ca"])
	a, err := agent.New(agent.Options{Config: cfg, Store: st, Issuers: map[string]agent.Issuer{"ca": ca}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RenewOnce(context.Background(), nil, true); err != nil {
		t.Fatalf("renew: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "out", "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func samePublicKey(a, b *x509.Certificate) bool {
	return bytes.Equal(a.RawSubjectPublicKeyInfo, b.RawSubjectPublicKeyInfo)
}

// TestReuseKeyLocalCA: with reuse_key a forced renewal certifies the key
// on disk again (new serial, same public key, key file unchanged); a key
// that is no longer of key_type, or any key without reuse_key, is replaced.
func TestReuseKeyLocalCA(t *testing.T) {
	dir := t.TempDir()
	first := renewWith(t, dir, "ec256", true)
	keyBefore, _ := os.ReadFile(filepath.Join(dir, "out", "key.pem"))
	second := renewWith(t, dir, "ec256", true)
	if first.SerialNumber.Cmp(second.SerialNumber) == 0 {
		t.Fatal("not renewed: same serial")
	}
	if !samePublicKey(first, second) {
		t.Fatal("reuse_key = true: the renewed cert has a new public key")
	}
	if keyAfter, _ := os.ReadFile(filepath.Join(dir, "out", "key.pem")); !bytes.Equal(keyBefore, keyAfter) {
		t.Fatal("reuse_key = true: key.pem changed")
	}

	// The configured type changed: the P-256 key is not reused.
	third := renewWith(t, dir, "ec384", true)
	if samePublicKey(second, third) {
		t.Fatal("a key of the wrong type was reused")
	}
	if kt, _ := pki.KeyTypeOf(third.PublicKey); kt != pki.KeyEC384 {
		t.Fatalf("new key is %s, want ec384", kt)
	}
	// Stronger RSA configured: an rsa2048 key is not reused for rsa3072.
	rsa1 := renewWith(t, dir, "rsa2048", true)
	rsa2 := renewWith(t, dir, "rsa3072", true)
	if samePublicKey(rsa1, rsa2) {
		t.Fatal("an rsa2048 key was reused for key_type rsa3072")
	}
	// Without reuse_key every renewal has a fresh key.
	if last := renewWith(t, dir, "rsa3072", false); samePublicKey(rsa2, last) {
		t.Fatal("reuse_key = false: the key was reused")
	}
}

// TestReuseKeyRefusesForeignKey: a key on disk that does not match the
// cert (swapped by someone) is not certified; a fresh key is.
func TestReuseKeyRefusesForeignKey(t *testing.T) {
	dir := t.TempDir()
	first := renewWith(t, dir, "ec256", true)
	planted, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := pki.EncodeKeyPEM(planted, "pkcs8")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "out", "key.pem"), pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	second := renewWith(t, dir, "ec256", true)
	pub, _ := x509.MarshalPKIXPublicKey(planted.Public())
	if samePublicKey(first, second) || bytes.Equal(second.RawSubjectPublicKeyInfo, pub) {
		t.Fatal("a key that did not match the cert on disk was certified")
	}
}

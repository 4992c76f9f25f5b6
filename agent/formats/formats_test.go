package formats

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEncodeKeyRoundTrip(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pw := []byte("Str0ng!pw")
	enc, err := EncodeKey(key, "pkcs8", pw)
	if err != nil || !IsEncrypted(enc) || strings.Contains(string(enc), "BEGIN PRIVATE KEY") {
		t.Fatalf("encrypted key: %v\n%s", err, enc)
	}
	got, err := DecodeKey(enc, pw)
	if err != nil || !got.Public().(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("decrypt: %v", err)
	}
	if _, err := DecodeKey(enc, []byte("Str0ng!px")); err == nil || strings.Contains(err.Error(), "Str0ng") {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := EncodeKey(key, "sec1", pw); err == nil {
		t.Fatal("encrypted sec1 accepted")
	}
	plain, err := EncodeKey(key, "sec1", nil)
	if err != nil || !strings.Contains(string(plain), "BEGIN EC PRIVATE KEY") || IsEncrypted(plain) {
		t.Fatalf("sec1: %v", err)
	}
}

func TestCheckPolicy(t *testing.T) {
	for pw, want := range map[string]string{
		"Str0ng!pw": "",
		"Ab1!":      `password is too weak for policy "strong": it has 4 characters, not at least 8`,
		"abcdefgh":  `password is too weak for policy "strong": no upper-case letter, no digit, no special character`,
		"PASSWORD1": `password is too weak for policy "strong": no lower-case letter, no special character`,
	} {
		err := CheckPolicy("strong", []byte(pw))
		if (err == nil) != (want == "") || (err != nil && err.Error() != want) {
			t.Errorf("%q: %v, want %q", pw, err, want)
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Errorf("error quotes the password %q", pw)
		}
	}
	if err := CheckPolicy("none", []byte("x")); err != nil {
		t.Error(err)
	}
}

func TestPasswordSourceRead(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pw"), []byte("secret\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(string) string { return dir }
	got, err := PasswordSource{Credential: "pw"}.Read(env)
	if err != nil || string(got) != "secret" {
		t.Fatalf("credential: %q %v", got, err)
	}
	if _, err := (PasswordSource{Credential: "pw"}).Read(func(string) string { return "" }); err != ErrNoCredentials {
		t.Fatalf("no $CREDENTIALS_DIRECTORY: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty"), []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (PasswordSource{File: filepath.Join(dir, "empty")}).Read(nil); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Fatalf("empty password: %v", err)
	}
}

func TestTLSInfoRoundTrip(t *testing.T) {
	in := TLSInfo{Cert: "/etc/ssl/certs/cert.pem", CAPath: "/etc/ssl/ca/", CAFiles: []string{"ca_cert_1.pem", "ca_cert_2.pem"},
		CRLPath: "/etc/ssl/crl/", CRLFiles: []string{"crl_1.pem"}, Key: "/etc/ssl/key.pem", KeyPassword: "Pw!1abcd", PackagePath: "/etc/ssl/"}
	s, err := in.String()
	if err != nil {
		t.Fatal(err)
	}
	want := "tlsCert: /etc/ssl/certs/cert.pem; tlsCaPath: /etc/ssl/ca/; tlsCaFile: ca_cert_1.pem, ca_cert_2.pem; tlsCrlPath: /etc/ssl/crl/; tlsCrlFile: crl_1.pem; tlsPk: /etc/ssl/key.pem; tlsPkPwd: Pw!1abcd; packagePath: /etc/ssl/"
	if s != want {
		t.Fatalf("got  %s\nwant %s", s, want)
	}
	out, err := ParseTLSInfo("( " + s + " )")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := out.String(); again != s {
		t.Fatalf("round trip: %s", again)
	}
	in.KeyPassword = "a;b"
	if _, err := in.String(); err == nil || strings.Contains(err.Error(), "a;b") || !strings.Contains(err.Error(), "tlsPkPwd") {
		t.Fatalf("separator in password: %v", err)
	}
	if _, err := ParseTLSInfo("tlsCert: /a; tlsCert: /b"); err == nil {
		t.Fatal("repeated field accepted")
	}
}

func TestRenderTemplate(t *testing.T) {
	d := TemplateData{Name: "web", Paths: Paths{CertFile: "/c.pem"}, Certs: map[string]Paths{"other": {KeyFile: "/o.key"}}}
	out, err := RenderTemplate("t", []byte(`{{.CertFile}} {{(index .Certs "other").KeyFile}}`), d)
	if err != nil || string(out) != "/c.pem /o.key" {
		t.Fatalf("%q %v", out, err)
	}
	if _, err := RenderTemplate("t", []byte(`{{.Nope}}`), d); err == nil {
		t.Fatal("unknown field accepted")
	}
	if _, err := RenderTemplate("t", []byte(`{{range $i := .DNSNames}}{{end}}{{printf "%0999999d" 1}}{{printf "%0999999d" 1}}`), d); err == nil {
		t.Fatal("output over 1 MiB accepted")
	}
}

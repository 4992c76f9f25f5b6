package recipes

import (
	"crypto"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
)

const mindioConfig = `
[agent]
state_dir = "{{dir}}/state"
check_interval = "24h"
warn_before = "30d"
[issuers.mindio]
type = "local"
[certs.tft]
preset = "mindio"
issuer = "mindio"
dns_names = ["controller.example.com"]
ip_addresses = ["127.0.0.1"]
usage = ["server", "client"]
cert_file = "{{dir}}/mindio/tls/cert.pem"
key_file = "{{dir}}/mindio/tls/key.pem"
ca_file = "{{dir}}/mindio/tls/ca/ca.pem"
key_password_credential = "mindio-key-password"
tls_info_file = "{{dir}}/mindio/tls/tls_info"
tls_info_crl_files = ["{{dir}}/mindio/crl/crl_1.pem"]
tls_info_package_path = "/usr/lib/x86_64-linux-gnu"
`

// TestMindIOTLSInfo: the tls_info string parses back field by field into
// paths that exist and hold the right material: the cert verifies against
// the CA named by tlsCaPath+tlsCaFile, and tlsPk decrypts with tlsPkPwd
// into the cert's key, which then serves TLS.
func TestMindIOTLSInfo(t *testing.T) {
	h := newHost(t)
	h.credential(t, "mindio-key-password", "Mind10-Key!pw")
	h.write(t, mindioConfig)
	h.renew(t)
	raw, err := os.ReadFile(h.path("mindio/tls/tls_info"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(h.path("mindio/tls/tls_info")); fi.Mode().Perm() != 0o600 {
		t.Errorf("tls_info mode %04o, want 0600", fi.Mode().Perm())
	}
	ti, err := formats.ParseTLSInfo(string(raw))
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	want := formats.TLSInfo{Cert: h.path("mindio/tls/cert.pem"), CAPath: h.path("mindio/tls/ca") + "/", CAFiles: []string{"ca.pem"},
		CRLPath: h.path("mindio/crl") + "/", CRLFiles: []string{"crl_1.pem"}, Key: h.path("mindio/tls/key.pem"),
		KeyPassword: "Mind10-Key!pw", PackagePath: "/usr/lib/x86_64-linux-gnu"}
	if got, _ := ti.String(); !strings.HasPrefix(string(raw), "tlsCert: ") || got != mustString(t, want) {
		t.Fatalf("tls_info fields\n got %+v\nwant %+v", ti, want)
	}
	leaf := readCerts(t, ti.Cert)[0]
	ca := readCerts(t, filepath.Join(ti.CAPath, ti.CAFiles[0]))[0]
	if err := leaf.CheckSignatureFrom(ca); err != nil {
		t.Fatalf("tlsCert is not signed by tlsCaFile: %v", err)
	}
	keyPEM, _ := os.ReadFile(ti.Key)
	key, err := formats.DecodeKey(keyPEM, []byte(ti.KeyPassword))
	if err != nil || !pki.KeyMatches(leaf, key) {
		t.Fatalf("tlsPk with tlsPkPwd: %v", err)
	}
	addr := serveTLSPair(t, leaf, key)
	if err := dialTLS(addr, filepath.Join(ti.CAPath, ti.CAFiles[0]), "controller.example.com", nil); err != nil {
		t.Fatalf("TLS with the tls_info material: %v", err)
	}
}

// TestMindIOSeparatorInPathRejected: check refuses a referenced path with
// ';' and says why.
func TestMindIOSeparatorInPathRejected(t *testing.T) {
	h := newHost(t)
	h.credential(t, "mindio-key-password", "Mind10-Key!pw")
	h.write(t, strings.Replace(mindioConfig, "{{dir}}/mindio/tls/cert.pem", "{{dir}}/mindio/tls;v2/cert.pem", 1))
	r := h.certagent(t, "check")
	want := `cert "tft": key "cert_file": path "` + h.path("mindio/tls;v2/cert.pem")[:40] + `"… contains ';', which MindIO TFT's tls_info uses as a separator`
	if r.code != 2 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "tls_info cannot quote them") {
		t.Fatalf("check: exit %d, want 2 with\n%s\ngot:\n%s", r.code, want, r.stderr)
	}
}

func mustString(t *testing.T, ti formats.TLSInfo) string {
	t.Helper()
	s, err := ti.String()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// serveTLSPair is serveTLS for a decrypted key held in memory, as MindIO
// holds it after tft_start_controller read it.
func serveTLSPair(t *testing.T, leaf *x509.Certificate, key crypto.Signer) string {
	t.Helper()
	dir := t.TempDir()
	keyPEM, err := pki.EncodeKeyPEM(key, "pkcs8")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "k.pem"), string(keyPEM), 0o600)
	writeFile(t, filepath.Join(dir, "c.pem"), string(pki.EncodeCertsPEM(leaf)), 0o600)
	return serveTLS(t, filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), nil)
}

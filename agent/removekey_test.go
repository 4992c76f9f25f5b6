package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
)

const mindioCert = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.tft]
issuer = "ca"
dns_names = ["tft.example.com"]
cert_file = "{{dir}}/out/cert.pem"
key_file = "{{dir}}/out/key.pem"
ca_file = "{{dir}}/out/ca/ca.pem"
units = ["tft.service", "tft-proc.service"]
remove_key_after_start = true
`

// TestRemoveKeyAfterStart: the key is on disk while each unit is acted
// on, is deleted only after the last unit is active, and is then shown
// as removed on purpose rather than as damage.
func TestRemoveKeyAfterStart(t *testing.T) {
	ta := newTestAgent(t, mindioCert)
	key := filepath.Join(ta.dir, "out/key.pem")
	var presentAtAct []bool
	ta.rs.onAct = func(string) {
		_, err := os.Stat(key)
		presentAtAct = append(presentAtAct, err == nil)
	}
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	if len(presentAtAct) != 2 || !presentAtAct[0] || !presentAtAct[1] {
		t.Fatalf("key present at each unit action = %v, want [true true]", presentAtAct)
	}
	if _, err := os.Stat(key); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key not removed after both units became active: %v", err)
	}
	if !strings.Contains(ta.logs(), `event=key_removed`) {
		t.Errorf("no key_removed log entry:\n%s", ta.logs())
	}
	c := ta.cfg.Certs["tft"]
	rep, removed := InspectCert(ta.cfg.Agent.StateDir, c, pki.Expect{DNSNames: c.DNSNames}, time.Now())
	if !removed || len(rep.Problems) > 0 {
		t.Fatalf("InspectCert: removed=%v problems=%v, want removed and no problems", removed, rep.Problems)
	}
	// Any other loss of a key is still damage: a marker for an older
	// certificate does not excuse a missing key of a new one.
	if err := writeMarker(ta.cfg.Agent.StateDir, "tft", "00"); err != nil {
		t.Fatal(err)
	}
	rep, removed = InspectCert(ta.cfg.Agent.StateDir, c, pki.Expect{}, time.Now())
	if removed || !rep.Has(pki.ProblemMissing) {
		t.Fatalf("stale marker: removed=%v problems=%v, want a missing-key problem", removed, rep.Problems)
	}
}

// TestRemoveKeyKeptWhenUnitFails: a failed or skipped unit never got the
// key into memory, so the key stays.
func TestRemoveKeyKeptWhenUnitFails(t *testing.T) {
	ta := newTestAgent(t, strings.Replace(mindioCert, `"tft.service", "tft-proc.service"`, `"tft.service"`, 1))
	ta.rs.fail["tft.service"] = errors.New("unit failed")
	_ = ta.RenewOnce(context.Background(), nil, false)
	if _, err := os.Stat(filepath.Join(ta.dir, "out/key.pem")); err != nil {
		t.Fatalf("key removed although the unit failed: %v", err)
	}
	ta.removeKeysAfterStart(&unitWork{unit: "tft.service", certs: []string{"tft"}}, Verdict{Skipped: true, ActiveState: "inactive"})
	if _, err := os.Stat(filepath.Join(ta.dir, "out/key.pem")); err != nil {
		t.Fatalf("key removed although the unit was skipped: %v", err)
	}
}

const formatsCert = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.vega]
issuer = "ca"
dns_names = ["vega.example.com"]
key_type = "rsa3072"
cert_file = "{{dir}}/out/server.crt"
key_file = "{{dir}}/out/server.key"
ca_file = "{{dir}}/out/ca.crt"
bundle_file = "{{dir}}/out/bundle.pem"
pkcs12_file = "{{dir}}/out/server.p12"
cert_file_chain = "full_with_root"
key_password_credential = "vega-key"
password_policy = "strong"
tls_info_file = "{{dir}}/out/tls_info"
tls_info_package_path = "/usr/lib/x86_64-linux-gnu"
[[certs.vega.templates]]
source = "{{dir}}/server.ini.tmpl"
dest = "{{dir}}/out/server.ini"
`

// TestOutputFormats issues through the agent and reads every format back:
// the encrypted key with the credential, the PKCS#12 archive, the bundle,
// the tls_info string and the rendered template.
func TestOutputFormats(t *testing.T) {
	creds := t.TempDir()
	t.Setenv(formats.CredentialsEnv, creds)
	if err := os.WriteFile(filepath.Join(creds, "vega-key"), []byte("Str0ng!Pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestAgent(t, formatsCert)
	tmpl := "[security]\nca_cert={{.CAFile}}\nserver_cert={{.CertFile}}\nserver_secret_key={{.KeyFile}}\n# expires {{rfc3339 .NotAfter}}\n"
	if err := os.WriteFile(filepath.Join(ta.dir, "server.ini.tmpl"), []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	out := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(ta.dir, "out", n))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	certs, err := pki.ParseCertsPEM(out("server.crt"))
	if err != nil || len(certs) != 2 || !certs[1].Equal(mustParse(t, out("ca.crt"))) {
		t.Fatalf("cert_file_chain full_with_root: %d certs, %v", len(certs), err)
	}
	if !formats.IsEncrypted(out("server.key")) {
		t.Fatal("key is not encrypted")
	}
	key, err := formats.DecodeKey(out("server.key"), []byte("Str0ng!Pass"))
	if err != nil || !pki.KeyMatches(certs[0], key) {
		t.Fatalf("decrypt key: %v", err)
	}
	if _, err := formats.DecodeKey(out("server.key"), []byte("wrong")); err == nil {
		t.Fatal("wrong password accepted")
	}
	p12key, p12leaf, _, err := formats.DecodePKCS12(out("server.p12"), []byte("Str0ng!Pass"))
	if err != nil || !p12leaf.Equal(certs[0]) || !pki.KeyMatches(certs[0], p12key) {
		t.Fatalf("pkcs12: %v", err)
	}
	if b := string(out("bundle.pem")); !strings.HasPrefix(b, "-----BEGIN ENCRYPTED PRIVATE KEY-----") || strings.Count(b, "BEGIN CERTIFICATE") != 1 {
		t.Errorf("bundle is not key then chain:\n%s", b)
	}
	ti, err := formats.ParseTLSInfo(string(out("tls_info")))
	if err != nil || ti.Cert != filepath.Join(ta.dir, "out/server.crt") || ti.KeyPassword != "Str0ng!Pass" ||
		ti.CAPath != filepath.Join(ta.dir, "out")+"/" || len(ti.CAFiles) != 1 || ti.CAFiles[0] != "ca.crt" {
		t.Errorf("tls_info = %+v, %v", ti, err)
	}
	ini := string(out("server.ini"))
	if !strings.Contains(ini, "server_secret_key="+filepath.Join(ta.dir, "out/server.key")+"\n") ||
		!strings.Contains(ini, certs[0].NotAfter.UTC().Format(time.RFC3339)) {
		t.Errorf("server.ini:\n%s", ini)
	}
	for _, n := range []string{"server.key", "bundle.pem", "server.p12", "tls_info", "server.ini"} {
		if fi, _ := os.Stat(filepath.Join(ta.dir, "out", n)); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %04o, want 0600", n, fi.Mode().Perm())
		}
	}
	if strings.Contains(ta.logs(), "Str0ng!Pass") {
		t.Error("password appears in the log")
	}
	c := ta.cfg.Certs["vega"]
	if rep, _ := InspectCert(ta.cfg.Agent.StateDir, c, pki.Expect{DNSNames: c.DNSNames}, time.Now()); len(rep.Problems) > 0 {
		t.Errorf("InspectCert of a fresh encrypted set: %v", rep.Problems)
	}
}

// TestWeakPasswordFailsRenewal: a weak password fails the issuance with
// a message that does not quote it, and writes nothing.
func TestWeakPasswordFailsRenewal(t *testing.T) {
	creds := t.TempDir()
	t.Setenv(formats.CredentialsEnv, creds)
	if err := os.WriteFile(filepath.Join(creds, "vega-key"), []byte("weakpass"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := newTestAgent(t, formatsCert[:strings.Index(formatsCert, "[[certs.vega.templates]]")])
	err := ta.RenewOnce(context.Background(), nil, false)
	if err == nil || !strings.Contains(err.Error(), "too weak") || strings.Contains(err.Error()+ta.logs(), "weakpass") {
		t.Fatalf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(ta.dir, "out/server.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key written despite the weak password: %v", err)
	}
}

func mustParse(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	certs, err := pki.ParseCertsPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return certs[0]
}

package recipes

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/testbin"
)

const vegaConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.vega]
type = "local"
key_type = "rsa3072"
[certs.evaluate-server]
preset = "vega"
issuer = "vega"
dns_names = ["evaluate.example.com"]
cert_file = "{{dir}}/vega/server.crt"
key_file = "{{dir}}/vega/server.key"
ca_file = "{{dir}}/vega/ca.crt"
key_password_credential = "vega-key-password"
[[certs.evaluate-server.templates]]
source = "{{dir}}/templates/vega.ini.tmpl"
dest = "{{dir}}/vega/vega.ini"
[certs.dask-server]
issuer = "vega"
dns_names = ["scheduler.example.com"]
ip_addresses = ["127.0.0.1"]
usage = ["server", "client"]
key_type = "rsa3072"
cert_file = "{{dir}}/vega/server_dask.crt"
key_file = "{{dir}}/vega/server_dask.key"
ca_file = "{{dir}}/vega/dask-ca.crt"
[[certs.dask-server.templates]]
source = "{{dir}}/templates/vega-server.ini.tmpl"
dest = "{{dir}}/vega/server.ini"
[certs.dask-client]
issuer = "vega"
dns_names = ["worker.example.com"]
ip_addresses = ["127.0.0.1"]
usage = ["server", "client"]
key_type = "rsa3072"
cert_file = "{{dir}}/vega/client_dask.crt"
key_file = "{{dir}}/vega/client_dask.key"
`

func vegaHost(t *testing.T, password string) *host {
	t.Helper()
	h := newHost(t)
	for _, n := range []string{"vega.ini.tmpl", "vega-server.ini.tmpl"} {
		b, err := os.ReadFile(repoFile("docs/recipes/templates/" + n))
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, h.path("templates/"+n), string(b), 0o644)
	}
	h.credential(t, "vega-key-password", password)
	h.write(t, vegaConfig)
	return h
}

// TestVegaEncryptedKeyOpenSSL: `openssl pkey -passin file:` opens the
// encrypted evaluate_service key with the credential, and only with it;
// the ini files point at the absolute paths written.
func TestVegaEncryptedKeyOpenSSL(t *testing.T) {
	openssl := testbin.OpenSSL(t)
	h := vegaHost(t, strongPassword)
	h.renew(t)
	out := testbin.Run(t, openssl, "pkey", "-in", h.path("vega/server.key"), "-passin", "file:"+h.path("creds/vega-key-password"), "-noout", "-text")
	if !strings.Contains(out, "3072 bit") {
		t.Errorf("openssl pkey: not an RSA 3072 key:\n%.300s", out)
	}
	writeFile(t, h.path("wrong"), "Wr0ng!password\n", 0o600)
	if err := exec.Command(openssl, "pkey", "-in", h.path("vega/server.key"), "-passin", "file:"+h.path("wrong"), "-noout").Run(); err == nil {
		t.Fatal("openssl opened the key with a wrong password")
	}
	asn1 := testbin.Run(t, openssl, "asn1parse", "-in", h.path("vega/server.key"))
	for _, want := range []string{"PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"} {
		if !strings.Contains(asn1, want) {
			t.Errorf("encrypted key lacks %s:\n%s", want, asn1)
		}
	}
	ini, _ := os.ReadFile(h.path("vega/server.ini"))
	for _, want := range []string{"server_cert_dask=" + h.path("vega/server_dask.crt"), "client_secret_key_dask=" + h.path("vega/client_dask.key")} {
		if !strings.Contains(string(ini), want+"\n") {
			t.Errorf("server.ini lacks %q:\n%s", want, ini)
		}
	}
}

// TestVegaWeakPasswordRejectedByCheck: password_policy "strong" (preset
// vega) rejects a weak credential at check time, without printing it.
func TestVegaWeakPasswordRejectedByCheck(t *testing.T) {
	h := vegaHost(t, "password1")
	r := h.certagent(t, "check")
	if r.code != 2 || !strings.Contains(r.stderr, `credential "vega-key-password": password is too weak for policy "strong": no upper-case letter, no special character`) {
		t.Fatalf("check: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "password1") {
		t.Error("check printed the password")
	}
}

// TestVegaDaskTLS13: a dask scheduler and worker (Debian
// python3-distributed) with TLS 1.3 minimum, using the written dask
// files, run a task over tls://127.0.0.1.
func TestVegaDaskTLS13(t *testing.T) {
	needPython(t, "distributed")
	h := vegaHost(t, strongPassword)
	h.renew(t)
	cmd := exec.Command(python, "dask_tls.py", h.path("vega/dask-ca.crt"),
		h.path("vega/server_dask.crt"), h.path("vega/server_dask.key"),
		h.path("vega/client_dask.crt"), h.path("vega/client_dask.key"))
	cmd.Env = append(os.Environ(), "DASK_DISTRIBUTED__LOGGING__DISTRIBUTED=warning")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "result 42 tls1.3") || !strings.Contains(string(out), "tls://127.0.0.1") {
		t.Fatalf("dask over TLS: %v\n%s", err, out)
	}
}

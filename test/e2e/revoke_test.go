package e2e

import (
	"encoding/json"
	"github.com/certagent/certagent/internal/testbin"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A federation's shape (OpenFL, MindIO): a server and a client cert from
// one local CA, both receiving the CA's CRL in one shared crl_file.
const revokeFederation = `
[agent]
state_dir = "{{state}}"

[issuers.fl]
type = "local"
key_type = "ec256"
crl_validity = "2d"

[certs.server]
issuer = "fl"
dns_names = ["localhost"]
ip_addresses = ["127.0.0.1"]
usage = ["server"]
cert_file = "{{out}}/server/cert.pem"
key_file = "{{out}}/server/key.pem"
ca_file = "{{out}}/server/ca.pem"
crl_file = "{{out}}/crl/fl.crl"

[certs.client]
issuer = "fl"
common_name = "collaborator-1"
dns_names = ["collaborator-1"]
usage = ["client"]
cert_file = "{{out}}/client/cert.pem"
key_file = "{{out}}/client/key.pem"
crl_file = "{{out}}/crl/fl.crl"
`

// mtlsProbe is a Python ssl server requiring a client cert and checking
// the leaf against the CRL (VERIFY_CRL_CHECK_LEAF), as OpenFL's and
// MindIO's mutual TLS does; a client in the same process connects with
// the given pair. It prints "accepted" or "refused: REASON" (the server's
// view) and exits 0 either way.
const mtlsProbe = `
import socket, ssl, sys, threading
ca, crl, scert, skey, ccert, ckey = sys.argv[1:7]
srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
srv.load_cert_chain(scert, skey)
srv.load_verify_locations(cafile=ca)
srv.load_verify_locations(cafile=crl)
srv.verify_mode = ssl.CERT_REQUIRED
srv.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(1)
result = []
def serve():
    conn, _ = ls.accept()
    try:
        with srv.wrap_socket(conn, server_side=True) as s:
            s.sendall(b"ok")
            result.append("accepted")
    except ssl.SSLError as e:
        result.append("refused: " + str(e))
t = threading.Thread(target=serve)
t.start()
cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cli.load_verify_locations(cafile=ca)
cli.load_cert_chain(ccert, ckey)
try:
    with cli.wrap_socket(socket.create_connection(ls.getsockname()), server_hostname="localhost") as c:
        c.recv(2)
except (ssl.SSLError, OSError):
    pass
t.join()
print(result[0])
`

func mtls(t *testing.T, py string, e *env, clientCert, clientKey string) string {
	t.Helper()
	script := filepath.Join(e.Dir, "probe.py")
	if err := os.WriteFile(script, []byte(mtlsProbe), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(testbin.Run(t, py, script, e.Path("server/ca.pem"), e.Path("crl/fl.crl"),
		e.Path("server/cert.pem"), e.Path("server/key.pem"), clientCert, clientKey))
}

func statusRows(t *testing.T, e *env) map[string]map[string]any {
	t.Helper()
	r := certagent(t, "status", "--json", "--config", e.Config)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status --json: %v\n%s", err, r.stdout)
	}
	out := map[string]map[string]any{}
	for _, row := range rows {
		out[row["name"].(string)] = row
	}
	return out
}

// `certagent revoke client` revokes the client cert at the local CA,
// deploys a new one and refreshes the shared crl_file: openssl verify
// -crl_check and a Python ssl server with VERIFY_CRL_CHECK_LEAF refuse
// the old client cert and accept its replacement. --no-reissue leaves
// the server cert in place with state revoked.
func TestRevokeWithRealPeers(t *testing.T) {
	openssl := testbin.NeedTool(t, "openssl")
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = testbin.NeedTool(t, "python3")
	}
	e := newEnv(t)
	e.WriteConfig(t, revokeFederation)
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	crl, ca := e.Path("crl/fl.crl"), e.Path("server/ca.pem")
	verify := func(cert string) (string, error) {
		out, err := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca, cert).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(e.Path("client/cert.pem")); err != nil {
		t.Fatalf("before revoke openssl refused the client: %v\n%s", err, out)
	}
	if got := mtls(t, py, e, e.Path("client/cert.pem"), e.Path("client/key.pem")); got != "accepted" {
		t.Fatalf("before revoke the python server said %q", got)
	}
	// Keep the pair being revoked, as a leaked copy would be.
	oldCert, oldKey := filepath.Join(e.Dir, "old.pem"), filepath.Join(e.Dir, "old.key")
	for from, to := range map[string]string{e.Path("client/cert.pem"): oldCert, e.Path("client/key.pem"): oldKey} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := certagent(t, "revoke", "--config", e.Config, "client", "--reason", "keyCompromise")
	if r.code != 0 || !strings.Contains(r.stderr, "event=revoked") || !strings.Contains(r.stderr, "reason=keyCompromise") {
		t.Fatalf("revoke: exit %d\n%s", r.code, r.stderr)
	}
	if out, err := verify(oldCert); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Fatalf("openssl accepted the revoked client cert (%v):\n%s", err, out)
	}
	if out, err := verify(e.Path("client/cert.pem")); err != nil {
		t.Fatalf("openssl refused the replacement: %v\n%s", err, out)
	}
	if got := mtls(t, py, e, oldCert, oldKey); !strings.HasPrefix(got, "refused") || !strings.Contains(got, "revoked") {
		t.Fatalf("the python server let the revoked client in: %q", got)
	}
	if got := mtls(t, py, e, e.Path("client/cert.pem"), e.Path("client/key.pem")); got != "accepted" {
		t.Fatalf("the python server refused the replacement: %q", got)
	}
	rows := statusRows(t, e)
	if rows["client"]["state"] != "ok" || rows["client"]["revocation"] == nil {
		t.Fatalf("status of client: %v", rows["client"])
	}
	if mode(t, crl) != 0o600 {
		t.Errorf("crl_file mode %04o, want cert_mode 0600", mode(t, crl))
	}

	server := e.Path("server/cert.pem")
	before, _ := os.ReadFile(server)
	if r := certagent(t, "revoke", "--no-reissue", "--reason", "cessationOfOperation", "--config", e.Config, "server"); r.code != 0 {
		t.Fatalf("revoke --no-reissue: exit %d\n%s", r.code, r.stderr)
	}
	if after, _ := os.ReadFile(server); string(after) != string(before) {
		t.Fatal("--no-reissue replaced the server cert")
	}
	if out, err := verify(server); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("the --no-reissue server cert is not in the CRL: %s", out)
	}
	if st := statusRows(t, e)["server"]["state"]; st != "revoked" {
		t.Fatalf("server state %v, want revoked", st)
	}
}

// Refusals: an unknown reason or cert is a usage error (2); a cert with
// nothing on disk exits 1 and issues nothing.
func TestRevokeRefusals(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, revokeFederation)
	if r := certagent(t, "revoke", "--config", e.Config, "client", "--reason", "keyStolen"); r.code != 2 || !strings.Contains(r.stderr, `unknown revocation reason "keyStolen"`) {
		t.Fatalf("bad reason: exit %d\n%s", r.code, r.stderr)
	}
	if r := certagent(t, "revoke", "--config", e.Config, "nosuch"); r.code != 2 || !strings.Contains(r.stderr, `no cert named "nosuch"`) {
		t.Fatalf("unknown cert: exit %d\n%s", r.code, r.stderr)
	}
	r := certagent(t, "revoke", "--config", e.Config, "client")
	if r.code != 1 || !strings.Contains(r.stderr, "no certificate on disk to revoke") {
		t.Fatalf("nothing on disk: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(e.Path("client/cert.pem")); !os.IsNotExist(err) {
		t.Fatalf("a failed revoke issued a cert: %v", err)
	}
}

// A crl_file damaged on disk shows in `certagent status` (state failed,
// crl_error), and the next run writes the CA's CRL back.
func TestDamagedCRLFileInStatus(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, revokeFederation)
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	crl := e.Path("crl/fl.crl")
	good, err := os.ReadFile(crl)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(crl, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	row := statusRows(t, e)["client"]
	if row["state"] != "failed" || !strings.Contains(row["crl_error"].(string), crl) {
		t.Fatalf("status with a truncated crl_file: %v", row)
	}
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 || !strings.Contains(r.stderr, "event=crl_updated") {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	if row := statusRows(t, e)["client"]; row["state"] != "ok" || row["crl_error"] != nil {
		t.Fatalf("status after the CRL was rewritten: %v", row)
	}
}

package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"

	"github.com/certagent/certagent/internal/testbin"
)

// rotationConfig manages n server certs of the local CA "ca", each with
// its own ca_file, and a shared crl_file.
func rotationConfig(n int, overlap string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nstate_dir = \"{{state}}\"\nlog_level = \"warn\"\n\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\noverlap = %q\n", overlap)
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\n[certs.c%d]\nissuer = \"ca\"\ndns_names = [\"c%d.example.com\"]\nusage = [\"server\", \"client\"]\nvalidity = \"1h\"\n", i, i)
		fmt.Fprintf(&b, "cert_file = \"{{out}}/c%d/cert.pem\"\nkey_file = \"{{out}}/c%d/key.pem\"\nca_file = \"{{out}}/c%d/ca.pem\"\ncrl_file = \"{{out}}/crl.pem\"\n", i, i, i)
	}
	return b.String()
}

// pyHandshake is a TLS server (cert, key) and a client trusting cafile,
// over a socket pair, with Python's ssl (OpenSSL underneath): the
// mutual-TLS shape of OpenFL and MindIO. Exit 0 when the client verified
// the server's chain and name.
const pyHandshake = `
import socket, ssl, sys, threading
cert, key, cafile, name = sys.argv[1:5]
srv = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
srv.load_cert_chain(cert, key)
cli = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
cli.load_verify_locations(cafile)
a, b = socket.socketpair()
def serve():
    try:
        s = srv.wrap_socket(a, server_side=True)
        s.recv(1)
        s.close()
    except Exception:
        a.close()
t = threading.Thread(target=serve)
t.start()
try:
    c = cli.wrap_socket(b, server_hostname=name)
    c.send(b"x")
    c.close()
except ssl.SSLError as e:
    print("refused:", e)
    b.close()
    t.join()
    sys.exit(1)
t.join()
print("ok")
`

// tlsAccepts reports whether a Python ssl client trusting cafile accepts
// the server cert/key for host, and openssl verify agrees.
func tlsAccepts(t *testing.T, py, openssl, script, cert, key, cafile, host string) bool {
	t.Helper()
	out, err := exec.Command(py, script, cert, key, cafile, host).CombinedOutput()
	tlsOK := err == nil && strings.Contains(string(out), "ok")
	vout, verr := exec.Command(openssl, "verify", "-CAfile", cafile, cert).CombinedOutput()
	if tlsOK != (verr == nil) {
		t.Fatalf("python ssl (%v: %s) and openssl verify (%v: %s) disagree on %s with %s", err, out, verr, vout, cert, cafile)
	}
	return tlsOK
}

// rotationPhase is the phase in the CA's rotation record, "" when none.
func rotationPhase(t *testing.T, e *env) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.State, "ca", "ca", "rotation.json"))
	if os.IsNotExist(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	var r struct{ Phase string }
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("rotation.json: %v", err)
	}
	return r.Phase
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func leafOf(t *testing.T, p string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertsPEM(b)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return cs[0]
}

// TestCARotationWithRealClients rotates the local CA with
// `certagent ca rotate` and `certagent renew` passes: through the whole
// overlap, clients holding any cert's ca_file accept the old leaves (a
// copy kept aside, as a peer that has not restarted still serves) and
// the new ones, over TLS and with openssl verify; once the rotation is
// over they refuse an old-CA leaf and accept the new ones, and the old
// CA key is gone.
func TestCARotationWithRealClients(t *testing.T) {
	openssl := testbin.NeedTool(t, "openssl")
	py := testbin.NeedTool(t, "python3")
	const n = 3
	e := newEnv(t)
	e.WriteConfig(t, rotationConfig(n, "8s"))
	script := filepath.Join(e.Dir, "handshake.py")
	if err := os.WriteFile(script, []byte(pyHandshake), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("first renew: exit %d\n%s", r.code, r.stderr)
	}
	oldKey, _ := os.ReadFile(filepath.Join(e.State, "ca", "ca", "ca.key"))
	keep := filepath.Join(e.Dir, "kept")
	if err := os.Mkdir(keep, 0o700); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ { // what a peer still serves until it restarts
		copyFile(t, e.Path(fmt.Sprintf("c%d/cert.pem", i)), filepath.Join(keep, fmt.Sprintf("c%d.pem", i)))
		copyFile(t, e.Path(fmt.Sprintf("c%d/key.pem", i)), filepath.Join(keep, fmt.Sprintf("c%d.key", i)))
	}
	oldCA := leafOf(t, e.Path("c0/ca.pem"))

	r := certagent(t, "ca", "rotate", "--config", e.Config, "ca")
	if r.code != 0 || !strings.Contains(r.stdout, "ca rotation of ca started") {
		t.Fatalf("ca rotate: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var st []struct {
		Name       string
		CARotation *struct {
			Phase string `json:"phase"`
		} `json:"ca_rotation"`
	}
	sr := certagent(t, "status", "--json", "--config", e.Config)
	if err := json.Unmarshal([]byte(sr.stdout), &st); err != nil || len(st) != n || st[0].CARotation == nil || st[0].CARotation.Phase == "" {
		t.Fatalf("status --json during the rotation shows no ca_rotation: %v\n%s", err, sr.stdout)
	}

	mixed, overlapChecks := false, 0
	deadline := time.Now().Add(2 * time.Minute)
	for phase := rotationPhase(t, e); phase != ""; phase = rotationPhase(t, e) {
		if time.Now().After(deadline) {
			t.Fatalf("the rotation did not end; phase %s", phase)
		}
		if phase == "publish" || phase == "reissue" {
			overlapChecks++
			fromOld := 0
			for i := 0; i < n; i++ {
				host := fmt.Sprintf("c%d.example.com", i)
				bundle := e.Path(fmt.Sprintf("c%d/ca.pem", (i+1)%n)) // another peer's bundle
				if !tlsAccepts(t, py, openssl, script, filepath.Join(keep, fmt.Sprintf("c%d.pem", i)), filepath.Join(keep, fmt.Sprintf("c%d.key", i)), bundle, host) {
					t.Fatalf("phase %s: a client holding %s refused the old leaf of c%d", phase, bundle, i)
				}
				cert := e.Path(fmt.Sprintf("c%d/cert.pem", i))
				if !tlsAccepts(t, py, openssl, script, cert, e.Path(fmt.Sprintf("c%d/key.pem", i)), bundle, host) {
					t.Fatalf("phase %s: a client holding %s refused the current leaf of c%d", phase, bundle, i)
				}
				for _, leaf := range []string{filepath.Join(keep, fmt.Sprintf("c%d.pem", i)), cert} {
					// crl_file carries both CAs' CRLs during the overlap.
					if out, err := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", e.Path("crl.pem"), "-CAfile", bundle, leaf).CombinedOutput(); err != nil {
						t.Fatalf("phase %s: openssl verify -crl_check with crl_file refused %s: %v\n%s", phase, leaf, err, out)
					}
				}
				if leafOf(t, cert).CheckSignatureFrom(oldCA) == nil {
					fromOld++
				}
			}
			mixed = mixed || (fromOld > 0 && fromOld < n)
		}
		time.Sleep(300 * time.Millisecond)
		if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
			t.Fatalf("renew during the rotation: exit %d\n%s", r.code, r.stderr)
		}
	}
	if overlapChecks == 0 || !mixed {
		t.Errorf("the overlap was not observed with leaves of both CAs in use (checks %d, mixed %v)", overlapChecks, mixed)
	}
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("c%d.example.com", i)
		bundle := e.Path(fmt.Sprintf("c%d/ca.pem", i))
		if got := strings.Count(readFile(t, bundle), "BEGIN CERTIFICATE"); got != 1 {
			t.Errorf("after the rotation %s holds %d roots, want 1", bundle, got)
		}
		if tlsAccepts(t, py, openssl, script, filepath.Join(keep, fmt.Sprintf("c%d.pem", i)), filepath.Join(keep, fmt.Sprintf("c%d.key", i)), bundle, host) {
			t.Errorf("after the rotation a client holding %s still accepts the old-CA leaf of c%d", bundle, i)
		}
		if !tlsAccepts(t, py, openssl, script, e.Path(fmt.Sprintf("c%d/cert.pem", i)), e.Path(fmt.Sprintf("c%d/key.pem", i)), bundle, host) {
			t.Errorf("after the rotation a client holding %s refuses the new leaf of c%d", bundle, i)
		}
	}
	crl := e.Path("crl.pem")
	if got := strings.Count(readFile(t, crl), "BEGIN X509 CRL"); got != 1 {
		t.Errorf("after the rotation crl_file holds %d CRLs, want the new CA's only", got)
	}
	if out, err := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crl, "-CAfile", e.Path("c0/ca.pem"), e.Path("c0/cert.pem")).CombinedOutput(); err != nil {
		t.Errorf("openssl verify -crl_check with crl_file after the rotation: %v\n%s", err, out)
	}
	entries, _ := os.ReadDir(filepath.Join(e.State, "ca", "ca"))
	for _, en := range entries {
		b, _ := os.ReadFile(filepath.Join(e.State, "ca", "ca", en.Name()))
		if strings.Contains(string(b), strings.TrimSpace(string(oldKey))) {
			t.Errorf("the old CA key is still in %s", en.Name())
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestCARotationByDaemon: `certagent ca rotate` beside a running daemon;
// the daemon carries the rotation to its end by itself (re-issues over
// the overlap, retires the old root) without any further command.
func TestCARotationByDaemon(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, strings.Replace(rotationConfig(2, "3s"), `log_level = "warn"`, `log_level = "info"`, 1))
	d := startDaemon(t, e)
	d.Await(2, time.Minute, "event=issued")
	oldCA := leafOf(t, e.Path("c0/ca.pem"))
	if r := certagent(t, "ca", "rotate", "--config", e.Config, "ca"); r.code != 0 {
		t.Fatalf("ca rotate: exit %d\n%s", r.code, r.stderr)
	}
	d.Await(1, time.Minute, "phase=done")
	if rotationPhase(t, e) != "" {
		t.Fatal("the daemon logged the end of the rotation, but the record is still there")
	}
	for i := 0; i < 2; i++ {
		roots := readFile(t, e.Path(fmt.Sprintf("c%d/ca.pem", i)))
		leaf := leafOf(t, e.Path(fmt.Sprintf("c%d/cert.pem", i)))
		if strings.Count(roots, "BEGIN CERTIFICATE") != 1 || leaf.CheckSignatureFrom(oldCA) == nil || leafOf(t, e.Path(fmt.Sprintf("c%d/ca.pem", i))).Equal(oldCA) {
			t.Errorf("c%d after the daemon's rotation: leaf or ca_file still from the old CA", i)
		}
	}
}

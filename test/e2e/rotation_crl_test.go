package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/testbin"
)

// pyCRLHandshake is pyHandshake with the client checking the server's
// leaf against the CRLs of a PEM file (VERIFY_CRL_CHECK_LEAF).
var pyCRLHandshake = strings.Replace(strings.Replace(pyHandshake,
	"cert, key, cafile, name = sys.argv[1:5]", "cert, key, cafile, name, crl = sys.argv[1:6]", 1),
	"cli.load_verify_locations(cafile)\n", "cli.load_verify_locations(cafile)\ncli.load_verify_locations(crl)\ncli.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF\n", 1)

// TestCARotationCRLFile revokes a leaf of the old CA and one of the new
// CA during the overlap: the crl_file carries both CAs' CRLs, and a
// Python ssl client and openssl verify -crl_check refuse both revoked
// leaves and accept the other leaf of each CA.
func TestCARotationCRLFile(t *testing.T) {
	openssl := testbin.NeedTool(t, "openssl")
	py := testbin.NeedTool(t, "python3")
	e := newEnv(t)
	e.WriteConfig(t, rotationConfig(4, "1h")) // re-issue times 0-30 min away: the test picks which certs move
	script := filepath.Join(e.Dir, "crl.py")
	if err := os.WriteFile(script, []byte(pyCRLHandshake), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("first renew: exit %d\n%s", r.code, r.stderr)
	}
	oldCA := leafOf(t, e.Path("c0/ca.pem"))
	if r := certagent(t, "ca", "rotate", "--config", e.Config, "ca"); r.code != 0 {
		t.Fatalf("ca rotate: exit %d\n%s", r.code, r.stderr)
	}
	// c0, c2 keep (or get) whatever the spread gives them; c1 and c3 are
	// moved to the new CA now; c0 must still be an old-CA leaf.
	if r := certagent(t, "renew", "--force", "--config", e.Config, "c1", "c3"); r.code != 0 {
		t.Fatalf("renew --force: exit %d\n%s", r.code, r.stderr)
	}
	for i, wantOld := range map[int]bool{1: false, 3: false} {
		if got := leafOf(t, e.Path(fmt.Sprintf("c%d/cert.pem", i))).CheckSignatureFrom(oldCA) == nil; got != wantOld {
			t.Fatalf("c%d: leaf from the old CA = %v, want %v", i, got, wantOld)
		}
	}
	c0Old := leafOf(t, e.Path("c0/cert.pem")).CheckSignatureFrom(oldCA) == nil
	if !c0Old {
		t.Skip("c0's spread re-issue time fell at the start of the overlap; nothing left from the old CA to revoke")
	}
	for _, name := range []string{"c0", "c1"} {
		if r := certagent(t, "revoke", "--config", e.Config, "--no-reissue", "--reason", "keyCompromise", name); r.code != 0 {
			t.Fatalf("revoke %s: exit %d\n%s", name, r.code, r.stderr)
		}
	}
	crl := e.Path("crl.pem")
	if got := strings.Count(readFile(t, crl), "BEGIN X509 CRL"); got != 2 {
		t.Fatalf("crl_file during the overlap holds %d CRLs, want the old and the new CA's", got)
	}
	bundle := e.Path("c2/ca.pem")
	for i, wantOK := range []bool{false, false, true, true} {
		cert, key, host := e.Path(fmt.Sprintf("c%d/cert.pem", i)), e.Path(fmt.Sprintf("c%d/key.pem", i)), fmt.Sprintf("c%d.example.com", i)
		out, err := exec.Command(py, script, cert, key, bundle, host, crl).CombinedOutput()
		if (err == nil) != wantOK {
			t.Errorf("c%d: python ssl with the crl_file: %v %s (want accepted=%v)", i, err, out, wantOK)
		}
		vout, verr := exec.Command(openssl, "verify", "-crl_check", "-CRLfile", crl, "-CAfile", bundle, cert).CombinedOutput()
		if (verr == nil) != wantOK {
			t.Errorf("c%d: openssl verify -crl_check: %v %s (want accepted=%v)", i, verr, vout, wantOK)
		}
	}
}

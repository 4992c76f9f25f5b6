package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// withCRL restarts ca with its CRL enabled and re-signed on every
// revocation, so GET /crl serves one. step-ca marks its CRL with a
// critical Issuing Distribution Point; OpenSSL-based peers apply such a
// CRL only to leaves that name the same point, so the provisioner's
// template puts it into the leaves (as a step-ca operator who serves a
// CRL must).
func withCRL(ca *stepCA) {
	ca.stop()
	cdp := ca.URL + "/1.0/crl"
	ca.editConfig(func(cfg map[string]any) {
		cfg["crl"] = map[string]any{"enabled": true, "generateOnRevoke": true, "cacheDuration": "24h", "idpURL": cdp}
		prov := cfg["authority"].(map[string]any)["provisioners"].([]any)[0].(map[string]any)
		prov["options"] = map[string]any{"x509": map[string]any{"template": `{
	"subject": {{ toJson .Subject }},
	"sans": {{ toJson .SANs }},
	"keyUsage": ["digitalSignature"],
	"extKeyUsage": ["serverAuth", "clientAuth"],
	"crlDistributionPoints": ["` + cdp + `"]
}`}}
	})
	ca.start()
}

// keepPair copies the host's current pair aside, as an attacker holding
// the leaked key would keep it.
func keepPair(t *testing.T, h *host) (crt, key string) {
	t.Helper()
	d := t.TempDir()
	crt, key = filepath.Join(d, "old.crt"), filepath.Join(d, "old.key")
	for src, dst := range map[string]string{h.path("web.crt"): crt, h.path("web.key"): key} {
		if err := os.WriteFile(dst, []byte(readFile(t, src)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return crt, key
}

// renewStatus is the HTTP status step-ca answers to POST /1.0/renew over
// mutual TLS with the pair (crt, key): 201 while it is good, 401 once
// step-ca holds it as revoked.
func renewStatus(t *testing.T, ca *stepCA, crt, key string) int {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := tlsConfig(t, ca.Root)
	cfg.Certificates = []tls.Certificate{pair}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := hc.Post(ca.URL+"/1.0/renew", "application/json", nil)
	if err != nil {
		t.Fatalf("POST /1.0/renew: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// stepRevokeAgain runs `step ca revoke` with the old pair, as an operator
// would to make sure, and returns its output; it must fail because
// step-ca already holds the serial as revoked.
func stepRevokeAgain(t *testing.T, ca *stepCA, crt, key string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ca.step, "ca", "revoke", "--cert", crt, "--key", key, "--ca-url", ca.URL, "--root", ca.Root)
	cmd.Env = append(os.Environ(), "STEPPATH="+ca.dir, "HOME="+filepath.Dir(ca.dir))
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("step ca revoke of the old serial succeeded again: certagent did not revoke it\n%s", out)
	}
	return string(out)
}

// revocationOf is cert web's status row: state and revocation object.
type revocationRow struct {
	State      string `json:"state"`
	Serial     string `json:"serial"`
	Revocation *struct {
		Serial  string `json:"serial"`
		Reason  string `json:"reason"`
		Pending bool   `json:"pending"`
		Error   string `json:"error"`
	} `json:"revocation"`
}

func statusRow(t *testing.T, h *host) revocationRow {
	t.Helper()
	r := h.certagent("status", "--json")
	var rows []struct {
		Name string `json:"name"`
		revocationRow
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	for _, row := range rows {
		if row.Name == "web" {
			if row.Revocation == nil {
				t.Fatalf("status of web has no revocation:\n%s", r.stdout)
			}
			return row.revocationRow
		}
	}
	t.Fatalf("status has no cert web:\n%s", r.stdout)
	return revocationRow{}
}

// TestStepRevoke: `certagent revoke` rekeys and deploys a new pair, then
// revokes the old serial over mutual TLS with the old key: step-ca then
// refuses the old pair (renew 401, `step ca revoke` says it is revoked
// already), the new pair verifies and renews, and crl_file holds
// step-ca's CRL listing the old serial, which openssl checks against the
// step root and intermediate.
func TestStepRevoke(t *testing.T) {
	ca := newStepCA(t)
	withCRL(ca)
	h := newHost(t)
	crl := h.path("web.crl")
	h.write(ca, `root_fingerprint = "`+ca.fingerprint()+`"`, `crl_file = "`+crl+`"`)
	h.putToken(ca.token("web.example.com", "web.example.com"))
	h.renew(false)
	old := leafOf(t, h.path("web.crt"))
	oldCrt, oldKey := keepPair(t, h)
	if s := renewStatus(t, ca, oldCrt, oldKey); s != http.StatusCreated {
		t.Fatalf("before the revoke, step-ca answers renew with the pair %d, want 201", s)
	}

	r := h.certagent("revoke", "web", "--reason", "keyCompromise")
	if r.code != 0 {
		t.Fatalf("revoke: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	wantAll(t, "revoke log", r.stderr, "event=revoke_pending", "event=revoked", "reason=keyCompromise", "event=crl_updated")
	if strings.Index(r.stderr, "event=renewed") > strings.Index(r.stderr, "event=revoked") {
		t.Errorf("the old serial was revoked before its replacement was deployed:\n%s", r.stderr)
	}
	cur := leafOf(t, h.path("web.crt"))
	if serial(cur) == serial(old) {
		t.Fatal("revoke deployed no new certificate")
	}
	if readFile(t, h.path("web.key")) == readFile(t, oldKey) {
		t.Error("the replacement kept the compromised key")
	}
	checkPair(t, ca, h)

	if s := renewStatus(t, ca, oldCrt, oldKey); s != http.StatusUnauthorized {
		t.Errorf("step-ca answers renew with the revoked pair %d, want 401", s)
	}
	if out := stepRevokeAgain(t, ca, oldCrt, oldKey); !strings.Contains(out, "revoked") {
		t.Errorf("step ca revoke of the old serial failed for another reason:\n%s", out)
	}
	row := statusRow(t, h)
	if row.State != "ok" || row.Revocation.Serial != serial(old) || row.Revocation.Reason != "keyCompromise" || row.Revocation.Pending {
		t.Errorf("status after revoke = %+v %+v, want ok with the old serial revoked (keyCompromise), not pending", row, *row.Revocation)
	}

	checkStepCRL(t, ca, crl, h.path("web.crt"), oldCrt)

	// The new pair is in good standing: it renews over mutual TLS.
	h.renew(true)
	checkPair(t, ca, h)
}

// checkStepCRL: crl_file is a PEM CRL signed by step-ca's intermediate
// that lists the revoked serial; openssl verifies it with the step root
// and intermediate, refuses the revoked cert with it and accepts good.
func checkStepCRL(t *testing.T, ca *stepCA, crlFile, good, revoked string) {
	t.Helper()
	b := readFile(t, crlFile)
	blk, _ := pem.Decode([]byte(b))
	if blk == nil || blk.Type != "X509 CRL" {
		t.Fatalf("crl_file holds no PEM CRL:\n%s", b)
	}
	list, err := x509.ParseRevocationList(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	bad := leafOf(t, revoked)
	listed := false
	for _, e := range list.RevokedCertificateEntries {
		listed = listed || e.SerialNumber.Cmp(bad.SerialNumber) == 0
	}
	if !listed {
		t.Errorf("step-ca's CRL in crl_file does not list the revoked serial %s", serial(bad))
	}
	openssl := testbin.NeedTool(t, "openssl")
	inter := filepath.Join(ca.dir, "certs", "intermediate_ca.crt")
	chain := filepath.Join(t.TempDir(), "chain.pem")
	if err := os.WriteFile(chain, []byte(readFile(t, ca.Root)+readFile(t, inter)), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(openssl, "crl", "-in", crlFile, "-CAfile", chain, "-noout").CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "verify OK") {
		t.Errorf("openssl crl -CAfile (step root+intermediate): %v\n%s", err, out)
	}
	verify := func(crt string) (string, error) {
		out, err := exec.Command(openssl, "verify", "-crl_check", "-CAfile", ca.Root, "-untrusted", inter,
			"-CRLfile", crlFile, crt).CombinedOutput()
		return string(out), err
	}
	if out, err := verify(revoked); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify -crl_check accepted the revoked cert: %v\n%s", err, out)
	}
	if out, err := verify(good); err != nil {
		t.Errorf("openssl verify -crl_check refused the replacement: %v\n%s", err, out)
	}
}

// TestStepRevokePending: when step-ca goes away between the deployment
// of the new pair and the revocation of the old serial (here: certagent
// is killed right after the commit, and the CA stopped), the new pair
// stays, status shows revoke_pending with the CA's error, and the next
// pass after the CA is back revokes the old serial with the old key kept
// in the previous set: the pending record survived the restart.
func TestStepRevokePending(t *testing.T) {
	ca := newStepCA(t)
	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	old := leafOf(t, h.path("web.crt"))
	oldCrt, oldKey := keepPair(t, h)

	fp := buildFailpoint(t)
	r := testbin.Exec(t, 2*time.Minute, []string{"CERTAGENT_FAILPOINT=agent-after-commit"}, fp, "revoke", "web", "--config", h.config)
	if r.Code == 0 {
		t.Fatalf("the failpoint did not kill certagent revoke:\n%s", r.Stderr)
	}
	if serial(leafOf(t, h.path("web.crt"))) == serial(old) {
		t.Fatal("the replacement was not deployed before the kill")
	}
	ca.stop()

	r2 := h.certagent("renew")
	if r2.code != 1 {
		t.Errorf("renew with the revocation still pending: exit %d, want 1", r2.code)
	}
	wantAll(t, "renew while step-ca is down", r2.stderr, "event=revoke_failed", "serial="+serial(old))
	row := statusRow(t, h)
	if row.State != "revoke_pending" || !row.Revocation.Pending || row.Revocation.Serial != serial(old) ||
		!strings.Contains(row.Revocation.Error, "/1.0/revoke") {
		t.Errorf("status with step-ca down = %+v %+v, want revoke_pending for the old serial with the CA's error", row, *row.Revocation)
	}
	if txt := h.certagent("status").stdout; !strings.Contains(txt, "revoke_pending") || !strings.Contains(txt, "revocation of old serial "+serial(old)+" pending") {
		t.Errorf("status table does not show the pending revocation:\n%s", txt)
	}

	ca.start()
	r3 := h.certagent("renew")
	if r3.code != 0 {
		t.Errorf("renew that completed the revocation: exit %d\n%s", r3.code, r3.stderr)
	}
	wantAll(t, "renew with step-ca back", r3.stderr, "event=revoked", "serial="+serial(old))
	row = statusRow(t, h)
	if row.State != "ok" || row.Revocation.Pending || row.Revocation.Serial != serial(old) {
		t.Errorf("status after the retry = %+v %+v, want ok, old serial revoked", row, *row.Revocation)
	}
	if s := renewStatus(t, ca, oldCrt, oldKey); s != http.StatusUnauthorized {
		t.Errorf("step-ca answers renew with the old pair %d, want 401 (revoked)", s)
	}
	stepRevokeAgain(t, ca, oldCrt, oldKey)
	checkPair(t, ca, h)
}

// TestStepRevokeNoReissue: with --no-reissue the step issuer revokes the
// pair on disk at once with its own key; the files stay, the state is
// revoked, and step-ca refuses the pair from then on.
func TestStepRevokeNoReissue(t *testing.T) {
	ca := newStepCA(t)
	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	before := h.snapshot()
	r := h.certagent("revoke", "web", "--no-reissue", "--reason", "cessationOfOperation")
	if r.code != 0 {
		t.Fatalf("revoke --no-reissue: exit %d\n%s", r.code, r.stderr)
	}
	h.sameFiles(before)
	if row := statusRow(t, h); row.State != "revoked" || row.Revocation.Reason != "cessationOfOperation" {
		t.Errorf("status = %+v, want revoked (cessationOfOperation)", row)
	}
	if s := renewStatus(t, ca, h.path("web.crt"), h.path("web.key")); s != http.StatusUnauthorized {
		t.Errorf("step-ca answers renew with the revoked pair %d, want 401", s)
	}
}

// buildFailpoint builds certagent with -tags failpoint for this test.
func buildFailpoint(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "certagent-failpoint")
	cmd := exec.Command("go", "build", "-tags=failpoint", "-o", out, "github.com/certagent/certagent/cmd/certagent")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build failpoint binary: %v\n%s", err, b)
	}
	return out
}

// TestStepRevokeCADown: with step-ca down from the start the rekey fails,
// so nothing is revoked: exit 1 saying so, the files untouched, and no
// revocation left pending.
func TestStepRevokeCADown(t *testing.T) {
	ca := newStepCA(t)
	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	old := leafOf(t, h.path("web.crt"))
	before := h.snapshot()
	ca.stop()
	r := h.certagent("revoke", "web")
	if r.code != 1 {
		t.Fatalf("revoke with step-ca down: exit %d, want 1\n%s", r.code, r.stderr)
	}
	wantAll(t, "revoke output", r.stderr, "the replacement failed, so serial "+serial(old)+" was not revoked")
	h.sameFiles(before)
	if state, _ := h.status(); state == "revoke_pending" || state == "revoked" {
		t.Errorf("state after a revoke that changed nothing = %s", state)
	}
	if _, err := os.Stat(filepath.Join(h.state, "revoked", "web")); !os.IsNotExist(err) {
		t.Errorf("a revocation record was left behind: %v", err)
	}
	ca.start()
	if s := renewStatus(t, ca, h.path("web.crt"), h.path("web.key")); s != http.StatusCreated {
		t.Errorf("step-ca answers renew with the untouched pair %d, want 201", s)
	}
}

// TestStepNoCRL: a crl_file on a step issuer whose step-ca serves no CRL
// is an error in status that says so; the cert's own files are written.
func TestStepNoCRL(t *testing.T) {
	ca := newStepCA(t)
	h := newHost(t)
	h.write(ca, `root_fingerprint = "`+ca.fingerprint()+`"`, `crl_file = "`+h.path("web.crl")+`"`)
	h.putToken(ca.token("web.example.com", "web.example.com"))
	h.certagent("renew")
	checkPair(t, ca, h)
	state, lastErr := h.status()
	if state != "failed" {
		t.Errorf("state with a crl_file step-ca cannot fill = %q, want failed", state)
	}
	wantAll(t, "last_error", lastErr, "crl_file "+h.path("web.crl")+" not refreshed", "step-ca serves no CRL", `enable "crl" in its ca.json`)
	if _, err := os.Stat(h.path("web.crl")); !os.IsNotExist(err) {
		t.Errorf("a crl_file was written without a CRL: %v", err)
	}
}

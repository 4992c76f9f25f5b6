package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// shortCerts puts a pair from `step ca certificate` that lives 61
// seconds into each host's output dir (as `fx pki certify` would have
// made it), and waits until they have expired. step-ca checks a
// renew-after-expiry token's chain one minute before the cert's NotAfter,
// so a cert of less than a minute can never be renewed after expiry.
func shortCerts(t *testing.T, ca *stepCA, hosts ...*host) {
	t.Helper()
	var last time.Time
	for _, h := range hosts {
		if err := os.MkdirAll(h.out, 0o755); err != nil {
			t.Fatal(err)
		}
		ca.run("ca", "certificate", "web.example.com", h.path("web.crt"), h.path("web.key"), "--token",
			ca.token("web.example.com", "web.example.com"), "--not-after", "61s", "--force")
		if err := os.WriteFile(h.path("ca.crt"), []byte(readFile(t, ca.Root)), 0o644); err != nil {
			t.Fatal(err)
		}
		last = leafOf(t, h.path("web.crt")).NotAfter
	}
	for !time.Now().After(last.Add(time.Second)) {
		time.Sleep(time.Second)
	}
}

// TestStepRenewAfterExpiry: an expired cert cannot open mutual TLS; it is
// renewed on /1.0/renew with a token signed by its key (the provisioner
// allows renewal after expiry), then rekeyed at once. When the CA does
// not allow it, the state is needs_token and the files stay.
func TestStepRenewAfterExpiry(t *testing.T) {
	ca := newStepCA(t)
	h, refused := newHost(t), newHost(t)
	for _, x := range []*host{h, refused} {
		x.write(ca, `root_fingerprint = "`+ca.fingerprint()+`"`, "")
	}
	shortCerts(t, ca, h, refused)
	oldKey := readFile(t, h.path("web.key"))
	h.renew(false)
	leaf := leafOf(t, h.path("web.crt"))
	if !time.Now().Before(leaf.NotAfter) || readFile(t, h.path("web.key")) == oldKey {
		t.Fatalf("after renewing an expired cert: not after %s, key changed: %v", leaf.NotAfter, readFile(t, h.path("web.key")) != oldKey)
	}
	if ca.count("/1.0/renew", 201) != 1 || ca.count("/1.0/rekey", 201) != 1 {
		t.Errorf("renew %d, rekey %d; want one each", ca.count("/1.0/renew", 201), ca.count("/1.0/rekey", 201))
	}
	checkPair(t, ca, h)

	ca.stop()
	ca.editConfig(func(cfg map[string]any) {
		prov := cfg["authority"].(map[string]any)["provisioners"].([]any)[0].(map[string]any)
		prov["claims"].(map[string]any)["allowRenewalAfterExpiry"] = false
	})
	ca.start()
	_, state, lastErr := failRenew(t, refused)
	if state != "needs_token" {
		t.Errorf("state = %q, want needs_token", state)
	}
	wantAll(t, "last_error", lastErr, "step-ca refused to renew the current certificate", "renew after expiry", "HTTP 401", refused.tok)
}

// TestStepOpenFLToken: OpenFL's token (`fx pki get-token`:
// base64(JWT).base64(root PEM)) enrolls a host that has no
// root_fingerprint: the root in the token is trusted, as OpenFL does, and
// the openfl preset makes the P-384 key `fx pki certify` makes.
func TestStepOpenFLToken(t *testing.T) {
	ca := newStepCA(t)
	h := newHost(t)
	h.write(ca, "", `preset = "openfl"`)
	text := strings.Replace(readFile(t, h.config), `dns_names = ["web.example.com"]`, `dns_names = ["collaborator1"]`, 1)
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	jwt := ca.token("collaborator1")
	h.putToken(base64.StdEncoding.EncodeToString([]byte(jwt)) + "." + base64.StdEncoding.EncodeToString([]byte(readFile(t, ca.Root))))
	h.renew(false)
	leaf := leafOf(t, h.path("web.crt"))
	if k, ok := leaf.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
		t.Errorf("key is %T, want EC P-384", leaf.PublicKey)
	}
	if cas := readCerts(t, h.path("ca.crt")); len(cas) != 1 || !cas[0].Equal(readCerts(t, ca.Root)[0]) {
		t.Error("ca_file is not the root from the token")
	}
	if _, err := os.Stat(h.tok); !os.IsNotExist(err) {
		t.Error("the used token is still there")
	}
	checkPair(t, ca, h)
	h.renew(true)
	checkPair(t, ca, h)
}

// TestStepDaemonWaitsForToken: the daemon without a token reports
// needs_token and sends nothing to step-ca; a token written later is
// seen by the file watcher (check_interval is 12h), enrolls and is
// deleted.
func TestStepDaemonWaitsForToken(t *testing.T) {
	ca := newStepCA(t)
	h := newHost(t)
	h.write(ca, `root_fingerprint = "`+ca.fingerprint()+`"`, "")
	log := startDaemon(t, h)
	testbin.Eventually(t, time.Minute, "state needs_token", func() bool { s, _ := h.status(); return s == "needs_token" })
	if strings.Contains(ca.log.String(), "user-agent=certagent") {
		t.Error("the daemon contacted step-ca without a token")
	}
	if n := log.Count("event=needs_token"); n != 1 {
		t.Errorf("%d needs_token events, want 1:\n%s", n, log.Text())
	}
	h.putToken(ca.token("web.example.com", "web.example.com"))
	testbin.Eventually(t, time.Minute, "enrollment", func() bool { s, _ := h.status(); return s == "ok" })
	if _, err := os.Stat(h.tok); !os.IsNotExist(err) {
		t.Error("the used token is still there")
	}
	checkPair(t, ca, h)
}

// startDaemon runs `certagent run` on the host's config until the test
// ends (see testbin.StartDaemon).
func startDaemon(t *testing.T, h *host) *testbin.Daemon {
	t.Helper()
	return testbin.StartDaemon(t, testbin.DaemonOptions{}, bin, "run", "--config", h.config)
}

// TestOpenFLClusterExample: examples/openfl-cluster.toml, with its paths
// moved under a temp dir, its CA URL pointed at the test step-ca and its
// unit left out, enrolls with a token made exactly as `fx pki get-token`
// makes it, and renews over mutual TLS.
func TestOpenFLClusterExample(t *testing.T) {
	ca := newStepCA(t)
	h := newHost(t)
	src := readFile(t, "../../examples/openfl-cluster.toml")
	text := regexp.MustCompile(`"(/[^"]*)"`).ReplaceAllString(src, `"`+h.dir+`$1"`)
	text = strings.ReplaceAll(text, "https://ca.example.com:9123", ca.URL)
	text = regexp.MustCompile(`(?m)^units = .*$`).ReplaceAllString(text, "")
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	tok := h.dir + "/var/lib/certagent/tokens/collaborator1.token"
	if err := os.MkdirAll(filepath.Dir(tok), 0o700); err != nil {
		t.Fatal(err)
	}
	// openfl/utilities/ca/ca.py get_token: base64(JWT) "." base64(root_ca.crt).
	fx := base64.StdEncoding.EncodeToString([]byte(ca.token("collaborator1"))) + "." +
		base64.StdEncoding.EncodeToString([]byte(readFile(t, ca.Root)))
	if err := os.WriteFile(tok, []byte(fx), 0o600); err != nil {
		t.Fatal(err)
	}
	h.renew(false)
	dir := h.dir + "/etc/openfl/cert/client/"
	verifyFiles(t, ca.Root, dir+"col_collaborator1.crt", dir+"col_collaborator1.key", dir+"cert_chain.crt")
	if _, err := os.Stat(tok); !os.IsNotExist(err) {
		t.Error("the used token is still there")
	}
	h.renew(true)
	verifyFiles(t, ca.Root, dir+"col_collaborator1.crt", dir+"col_collaborator1.key", dir+"cert_chain.crt")
	if ca.count("/1.0/rekey", 201) != 1 {
		t.Error("the renewal did not go over mutual TLS")
	}
}

// TestStepBareTokenNoRoot: a `step ca token` token names the root's
// fingerprint; with neither root_fingerprint nor root_file, certagent
// fetches that root and checks its hash, as `step ca certificate --token`
// does. The cert's validity is asked of step-ca.
func TestStepBareTokenNoRoot(t *testing.T) {
	ca := newStepCA(t)
	h := newHost(t)
	h.write(ca, "", `validity = "2h"`)
	h.putToken(ca.token("web.example.com", "web.example.com"))
	start := time.Now()
	h.renew(false)
	leaf := leafOf(t, h.path("web.crt"))
	if life := leaf.NotAfter.Sub(start); life < 2*time.Hour-time.Minute || life > 2*time.Hour+time.Minute {
		t.Errorf("the cert lives %s from issuance, want the 2h asked for", life)
	}
	if ca.count("/root/"+ca.fingerprint(), 200) != 1 {
		t.Error("the root named by the token was not fetched by its fingerprint")
	}
	checkPair(t, ca, h)
}

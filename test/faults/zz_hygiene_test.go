package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestZZSecretHygiene runs last (file and function order): it adds a
// daemon and one-shot runs with ACME credentials of its own, then scans
// every log line that every certagent run of this package printed, and
// `status --json`, for key material and the test credentials.
func TestZZSecretHygiene(t *testing.T) {
	e := newEnv(t)
	token := "cf-token-" + strings.Repeat("Zq9", 8)
	hmac := "eab-hmac-" + strings.Repeat("Xk7", 8)
	registerSecret(token)
	registerSecret(hmac)
	env := filepath.Join(e.dir, "dns.env")
	hmacFile := filepath.Join(e.dir, "eab.hmac")
	writeFile(t, env, []byte("CLOUDFLARE_DNS_API_TOKEN="+token+"\n"))
	writeFile(t, hmacFile, []byte(hmac+"\n"))
	e.write(t, oneCert+`
[issuers.le]
type = "acme"
directory = "https://127.0.0.1:1/directory"
email = "ops@example.com"
challenge = "dns-01"
dns_provider = "cloudflare"
dns_env_file = "`+env+`"
eab_kid = "kid-1"
eab_hmac_file = "`+hmacFile+`"

[certs.acme]
issuer = "le"
dns_names = ["acme.example.com"]
cert_file = "{{out}}/acme/cert.pem"
key_file = "{{out}}/acme/key.pem"
`)
	// The ACME cert fails (nothing listens on port 1); the error path is
	// where credentials leak if they leak at all.
	for _, level := range []string{"trace", "info"} {
		cfg, _ := os.ReadFile(e.config)
		writeFile(t, e.config, []byte(strings.Replace(string(cfg), "[agent]\n", "[agent]\nlog_level = \""+level+"\"\n", 1)))
		certagent(t, "renew", "--config", e.config)
		certagent(t, "renew", "--force", "--config", e.config)
		writeFile(t, e.config, cfg)
	}
	// The daemon would honour the backoff the renew runs recorded in
	// status.json; this test wants its error path to run now.
	if err := os.Remove(filepath.Join(e.state, "status.json")); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, e)
	d.await(1, 30*time.Second, "event=renew_failed", "cert=acme")
	st := certagent(t, "status", "--json", "--config", e.config)
	if st.code != 0 || !strings.Contains(st.stdout, `"name": "web"`) {
		t.Fatalf("status --json: %s", st)
	}
	certagent(t, "status", "--config", e.config)
	certagent(t, "check", "--files", "--config", e.config)
	harvestKeys(e.dir)
	collectLog(d.text())

	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.keys == 0 || len(secrets.keyLines) == 0 {
		t.Fatal("no private keys harvested: the scan would prove nothing")
	}
	// The scanner must be able to fail: a line of a real key is caught.
	if kl := readLines(e.path("web/key.pem")); len(kl) < 2 || !hasKeyFragment("log: "+kl[1]) {
		t.Fatal("the scanner does not recognise a line of web's key")
	}
	lines, leaks := 0, 0
	for _, text := range secrets.logs {
		for _, l := range strings.Split(text, "\n") {
			lines++
			var found []string
			if strings.Contains(l, "PRIVATE KEY") {
				found = append(found, "PRIVATE KEY")
			}
			for w := range secrets.words {
				if strings.Contains(l, w) {
					found = append(found, "credential "+w[:8]+"…")
				}
			}
			if hasKeyFragment(l) {
				found = append(found, "key material")
			}
			if len(found) > 0 {
				leaks++
				if leaks <= 5 {
					t.Errorf("secret in output (%s): %.200s", strings.Join(found, ", "), l)
				}
			}
		}
	}
	figure(t, "secrets: %d output lines of every certagent run in this package (daemon, renew, check, status, status --json) scanned for %d private keys (%d key fragments), %d credentials and \"PRIVATE KEY\": %d leaks",
		lines, secrets.keys, len(secrets.keyLines), len(secrets.words), leaks)
}

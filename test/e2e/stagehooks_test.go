package e2e

import (
	"bytes"
	"fmt"
	"github.com/certagent/certagent/internal/testbin"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const stageHooksConfig = `
[agent]
state_dir = "{{state}}"

[issuers.cluster]
type = "local"

[certs.web]
issuer = "cluster"
dns_names = ["web.example.com"]
validity = "30d"
cert_file = "{{out}}/web/cert.pem"
key_file = "{{out}}/web/key.pem"
fullchain_file = "{{out}}/web/fullchain.pem"
ca_file = "{{out}}/web/ca.pem"
pre_exec = ["%[1]s/pre.sh", "check"]
on_failure = ["%[1]s/fail.sh"]
`

// readEnv parses the NAME=VALUE lines a hook script dumped.
func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			out[k] = v
		}
	}
	return out
}

// TestPreExecRefusalKeepsOldFilesByteIdentical: pre_exec sees the new
// pair in staging before any output changes; when it exits non-zero
// the deploy is aborted, the old files stay byte-identical, the renewal
// counts as failed, and on_failure runs with the reason.
func TestPreExecRefusalKeepsOldFilesByteIdentical(t *testing.T) {
	openssl := testbin.NeedTool(t, "openssl")
	e := newEnv(t)
	hooks := filepath.Join(e.Dir, "hooks")
	if err := os.Mkdir(hooks, 0o755); err != nil {
		t.Fatal(err)
	}
	// pre.sh records its environment and copies the staged cert; it
	// refuses (exit 3) once hooks/refuse exists.
	writeScript(t, filepath.Join(hooks, "pre.sh"), fmt.Sprintf(`env > %[1]s/pre.env
echo "ARG1=$1" >> %[1]s/pre.env
cp "$CERTAGENT_NEW_CERT_FILE" %[1]s/staged-cert.pem
[ -e "$CERTAGENT_NEW_KEY_FILE" ] && echo KEY_STAGED=yes >> %[1]s/pre.env
if [ -e %[1]s/refuse ]; then echo "service config test failed"; exit 3; fi
exit 0
`, hooks))
	writeScript(t, filepath.Join(hooks, "fail.sh"), fmt.Sprintf("env > %s/fail.env\n", hooks))
	e.WriteConfig(t, fmt.Sprintf(stageHooksConfig, hooks))
	if r := certagent(t, "check", "--config", e.Config); r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// First issue: pre_exec accepts, and saw the very pair deployed.
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	env := readEnv(t, filepath.Join(hooks, "pre.env"))
	deployed, err := os.ReadFile(e.Path("web/cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	staged, _ := os.ReadFile(filepath.Join(hooks, "staged-cert.pem"))
	if !bytes.Equal(staged, deployed) {
		t.Errorf("pre_exec's CERTAGENT_NEW_CERT_FILE differs from the cert deployed afterwards")
	}
	serial := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(testbin.Run(t, openssl, "x509", "-noout", "-serial", "-in", e.Path("web/cert.pem"))), "serial="))
	for k, want := range map[string]string{
		"CERTAGENT_STAGE": "pre_exec", "CERTAGENT_REASON": "issue", "CERTAGENT_CERT_NAME": "web",
		"CERTAGENT_CERT_FILE": e.Path("web/cert.pem"), "CERTAGENT_KEY_FILE": e.Path("web/key.pem"),
		"CERTAGENT_SERIAL": "", "ARG1": "check", "KEY_STAGED": "yes", "CERTAGENT_DOMAINS": "web.example.com",
	} {
		if env[k] != want {
			t.Errorf("pre_exec env %s = %q, want %q", k, env[k], want)
		}
	}
	if strings.TrimLeft(env["CERTAGENT_NEW_SERIAL"], "0") != strings.TrimLeft(serial, "0") {
		t.Errorf("CERTAGENT_NEW_SERIAL = %q, deployed serial %q", env["CERTAGENT_NEW_SERIAL"], serial)
	}
	if _, err := os.Stat(env["CERTAGENT_STAGING_DIR"]); !os.IsNotExist(err) {
		t.Errorf("staging dir %q left behind: %v", env["CERTAGENT_STAGING_DIR"], err)
	}

	// Now pre_exec refuses: a forced renewal must leave every file as it was.
	names := []string{"web/cert.pem", "web/key.pem", "web/fullchain.pem", "web/ca.pem"}
	before := map[string][]byte{}
	for _, n := range names {
		before[n], _ = os.ReadFile(e.Path(n))
	}
	if err := os.WriteFile(filepath.Join(hooks, "refuse"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := certagent(t, "renew", "--force", "--config", e.Config)
	if r.code == 0 {
		t.Fatalf("renew with a refusing pre_exec exited 0\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "pre_exec refused the new certificate") || !strings.Contains(r.stderr, "service config test failed") {
		t.Errorf("stderr does not say pre_exec refused, with its output:\n%s", r.stderr)
	}
	for _, n := range names {
		after, err := os.ReadFile(e.Path(n))
		if err != nil || !bytes.Equal(after, before[n]) {
			t.Errorf("%s changed although pre_exec refused (%v)", n, err)
		}
	}
	env = readEnv(t, filepath.Join(hooks, "pre.env"))
	if env["CERTAGENT_REASON"] != "renewal" || strings.TrimLeft(env["CERTAGENT_SERIAL"], "0") != strings.TrimLeft(serial, "0") {
		t.Errorf("refused pre_exec env: reason %q serial %q, want renewal and %s", env["CERTAGENT_REASON"], env["CERTAGENT_SERIAL"], serial)
	}
	fail := readEnv(t, filepath.Join(hooks, "fail.env"))
	if fail["CERTAGENT_STAGE"] != "on_failure" || fail["CERTAGENT_REASON"] != "renewal_failed" ||
		!strings.Contains(fail["CERTAGENT_ERROR"], "pre_exec refused") || fail["CERTAGENT_FAILURES"] != "1" ||
		strings.TrimLeft(fail["CERTAGENT_SERIAL"], "0") != strings.TrimLeft(serial, "0") {
		t.Errorf("on_failure env = stage %q reason %q error %q failures %q serial %q", fail["CERTAGENT_STAGE"],
			fail["CERTAGENT_REASON"], fail["CERTAGENT_ERROR"], fail["CERTAGENT_FAILURES"], fail["CERTAGENT_SERIAL"])
	}
	// The failure is recorded like a failed renewal: status shows it.
	st := certagent(t, "status", "--config", e.Config)
	if !strings.Contains(st.stdout, "pre_exec refused") {
		t.Errorf("status does not show the failure:\n%s%s", st.stdout, st.stderr)
	}
}

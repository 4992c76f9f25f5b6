package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// Issue 14, items 1 and 2: one-shot commands reach a running daemon over
// its control socket (here in a temp dir), and reload answers.

// controlConfig has a plain cert and one whose key password is a systemd
// credential, which only the daemon's environment has.
const controlConfig = `[agent]
state_dir = "{{state}}"
control_socket = "{{run}}/control.sock"
log_format = "text"
log_level = "debug"               # status requests are logged at debug

[issuers.ca]
type = "local"

[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "{{out}}/web.pem"
key_file = "{{out}}/web.key"

[certs.vault]
issuer = "ca"
dns_names = ["vault.example.com"]
cert_file = "{{out}}/vault.pem"
key_file = "{{out}}/vault.key"
key_password_credential = "vault-key-password"
`

// noCreds is the environment of a shell: no $CREDENTIALS_DIRECTORY.
var noCreds = []string{"CREDENTIALS_DIRECTORY="}

// startControlDaemon starts the daemon on controlConfig with a
// credentials directory, as systemd's LoadCredential= gives it, and waits
// for both certs.
func startControlDaemon(t *testing.T) (*env, *testbin.Daemon) {
	t.Helper()
	e := newEnv(t)
	e.WriteConfig(t, strings.ReplaceAll(controlConfig, "{{run}}", filepath.Join(e.Dir, "run")))
	creds := filepath.Join(e.Dir, "creds")
	if err := os.MkdirAll(creds, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(creds, "vault-key-password"), []byte("Correct-Horse-42!"), 0o400); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	d := startDaemon(t, e)
	d.Await(2, 30*time.Second, "event=issued")
	return e, d
}

func ctl(t *testing.T, args ...string) result {
	t.Helper()
	r := testbin.Exec(t, 2*time.Minute, noCreds, bin, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

// TestRenewRunsInTheDaemon: `certagent renew` is done by the daemon (its
// log has the renewal), with the daemon's credentials (the credential-
// backed key renews, which fails in-process without
// $CREDENTIALS_DIRECTORY), and the terminal gets the request's log lines
// and verdict. --local still works in-process.
func TestRenewRunsInTheDaemon(t *testing.T) {
	e, d := startControlDaemon(t)
	before := serialOfFile(t, e.Path("vault.pem"))

	r := ctl(t, "renew", "--config", e.Config, "--force", "vault")
	if r.code != 0 {
		t.Fatalf("renew --force vault through the daemon: exit %d\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "certificate renewed: cert=vault") {
		t.Errorf("the terminal did not get the daemon's log lines:\n%s", r.stderr)
	}
	d.Await(1, 10*time.Second, "event=control_request op=renew names=vault force=true")
	d.Await(1, 10*time.Second, "cert=vault issuer=ca event=renewed")
	if after := serialOfFile(t, e.Path("vault.pem")); after == before {
		t.Errorf("vault.pem still has serial %s", before)
	}

	// In-process, the credential is not there: the renewal fails, exit 1,
	// and the old pair stays.
	before = serialOfFile(t, e.Path("vault.pem"))
	r = ctl(t, "renew", "--config", e.Config, "--force", "--local", "vault")
	if r.code != 1 || !strings.Contains(r.stderr, "CREDENTIALS_DIRECTORY") {
		t.Errorf("renew --local without credentials: exit %d, want 1 naming $CREDENTIALS_DIRECTORY\n%s", r.code, r.stderr)
	}
	if after := serialOfFile(t, e.Path("vault.pem")); after != before {
		t.Errorf("a failed in-process renewal replaced vault.pem")
	}
	if n := d.Count("event=control_request"); n != 1 {
		t.Errorf("--local reached the daemon (%d control requests)", n)
	}

	// The daemon answers with the running configuration's names.
	r = ctl(t, "renew", "--config", e.Config, "web", "vault")
	if r.code != 0 {
		t.Errorf("plain renew through the daemon: exit %d\n%s", r.code, r.stderr)
	}
}

// TestStatusAsksTheDaemon: status comes from the daemon while it runs,
// from the disk with --local or when the daemon is gone, even if its
// socket file was left behind.
func TestStatusAsksTheDaemon(t *testing.T) {
	e, d := startControlDaemon(t)
	r := ctl(t, "status", "--config", e.Config, "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"name": "vault"`) {
		t.Fatalf("status: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	d.Await(1, 10*time.Second, "event=control_request op=status")
	if r := ctl(t, "status", "--config", e.Config, "--local"); r.code != 0 || d.Count("op=status") != 1 {
		t.Errorf("status --local: exit %d, %d status requests at the daemon", r.code, d.Count("op=status"))
	}

	// SIGKILL leaves the socket file: a stale socket means "no daemon".
	sock := filepath.Join(e.Dir, "run", "control.sock")
	d.Kill()
	if _, err := os.Lstat(sock); err != nil {
		t.Fatalf("the killed daemon's socket file is gone (%v); the stale case is not tested", err)
	}
	if r := ctl(t, "status", "--config", e.Config); r.code != 0 || !strings.Contains(r.stdout, "web") {
		t.Errorf("status with a stale socket: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := ctl(t, "renew", "--config", e.Config, "--force", "web"); r.code != 0 || strings.Contains(r.stderr, "control") {
		t.Errorf("renew with a stale socket: exit %d\n%s", r.code, r.stderr)
	}
	// A new daemon takes the stale socket over.
	d2 := startDaemon(t, e)
	d2.Await(1, 10*time.Second, "certagent started")
	testbin.Eventually(t, 10*time.Second, "the new daemon to answer status", func() bool {
		return ctl(t, "status", "--config", e.Config).code == 0 && d2.Count("op=status") > 0
	})
}

// TestRenewOfANameTheDaemonDoesNotRun: a cert added on disk but not
// reloaded is a usage error from the daemon, exit 2.
func TestRenewOfANameTheDaemonDoesNotRun(t *testing.T) {
	e, _ := startControlDaemon(t)
	b, _ := os.ReadFile(e.Config)
	extra := "\n[certs.api]\nissuer = \"ca\"\ndns_names = [\"api.example.com\"]\ncert_file = \"" + e.Path("api.pem") + "\"\nkey_file = \"" + e.Path("api.key") + "\"\n"
	if err := os.WriteFile(e.Config, append(b, extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	r := ctl(t, "renew", "--config", e.Config, "api")
	if r.code != 2 || !strings.Contains(r.stderr, `no cert named "api" in the running configuration`) {
		t.Errorf("renew of a cert the daemon does not run: exit %d\n%s", r.code, r.stderr)
	}
	if r := ctl(t, "reload", "--config", e.Config); r.code != 0 {
		t.Fatalf("reload: exit %d\n%s", r.code, r.stderr)
	}
	if r := ctl(t, "renew", "--config", e.Config, "api"); r.code != 0 {
		t.Errorf("renew after the reload: exit %d\n%s", r.code, r.stderr)
	}
}

// TestReloadAnswers: `certagent reload` (ExecReload) exits 1 with the
// first problem first when the daemon rejects the configuration, and the
// daemon logs each problem as its own line.
func TestReloadAnswers(t *testing.T) {
	e, d := startControlDaemon(t)
	drop := filepath.Join(e.Dir, "conf.d", "50-broken.toml")
	if err := os.MkdirAll(filepath.Dir(drop), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(drop, []byte("[agent]\nlog_levle = \"debug\"\n\n[certs.x]\nissuer = \"nope\"\n"), 0o600)
	r := ctl(t, "reload", "--config", e.Config)
	first, _, _ := strings.Cut(r.stderr, "\n")
	if r.code != 1 || !strings.HasPrefix(first, "certagent: reload: ") || !strings.Contains(first, `50-broken.toml:2: agent: key "log_levle"`) {
		t.Fatalf("reload with a broken drop-in: exit %d, want 1 with the first problem on the first line\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, `unknown issuer "nope"`) {
		t.Errorf("later problems missing:\n%s", r.stderr)
	}
	d.Await(2, 10*time.Second, "event=config_rejected")
	for _, l := range strings.Split(d.Text(), "\n") {
		if strings.Contains(l, "event=config_rejected") && strings.Contains(l, `\n`) {
			t.Errorf("a rejection entry holds several problems: %s", l)
		}
	}
	os.Remove(drop)
	if r := ctl(t, "reload", "--config", e.Config); r.code != 0 || r.stderr != "" {
		t.Errorf("reload of the fixed config: exit %d\n%s", r.code, r.stderr)
	}
	d.Await(1, 10*time.Second, "event=config_reloaded")

	// Moving the socket needs a restart: the running daemon says so.
	sock := filepath.Join(e.Dir, "run", "control.sock")
	good, _ := os.ReadFile(e.Config)
	os.WriteFile(e.Config, []byte(strings.Replace(string(good), sock, filepath.Join(e.Dir, "moved.sock"), 1)), 0o600)
	if r := ctl(t, "reload", "--config", e.Config, "--socket", sock); r.code != 1 || !strings.Contains(r.stderr, "control_socket changed") {
		t.Errorf("reload with a moved control_socket: exit %d, want 1 saying it needs a restart\n%s", r.code, r.stderr)
	}
	os.WriteFile(e.Config, good, 0o600)

	// No daemon: reload says so and fails.
	_, _ = d.Stop()
	if r := ctl(t, "reload", "--config", e.Config); r.code != 1 || !strings.Contains(r.stderr, "no certagent daemon is running") {
		t.Errorf("reload without a daemon: exit %d\n%s", r.code, r.stderr)
	}
}

// serialOfFile is the serial of the cert in path, as openssl prints it.
func serialOfFile(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("openssl", "x509", "-noout", "-serial", "-in", path).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl x509 %s: %v\n%s", path, err, out)
	}
	return strings.TrimSpace(string(out))
}

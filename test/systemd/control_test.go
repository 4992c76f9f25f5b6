package systemd

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// Issue 14, items 1 and 2, under the real systemd: one-shot commands go
// through the daemon's control socket, and `systemctl reload` answers.

// TestOneShotRenewIsInTheJournal: `certagent renew --force det` from a
// shell is done by the daemon, so the renewal and the unit action are in
// the daemon's journal under CERTAGENT_CERT=det, and the shell sees the
// log lines and a zero exit.
func TestOneShotRenewIsInTheJournal(t *testing.T) {
	c := startPackaged(t, "")
	manage(t, c, detConfig, detUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	old := servedSerial(t, c)
	inv := show(t, c, "determined-master.service", "InvocationID")

	out, err := c.Run("certagent", "renew", "--force", "det")
	if err != nil || !strings.Contains(out, "certificate renewed: cert=det") {
		t.Fatalf("certagent renew --force det: %v, want exit 0 and the daemon's log lines\n%s", err, out)
	}
	renewed := diskSerial(t, c, detCertFile)
	if renewed == old {
		t.Fatalf("det was not renewed (still %s)", old)
	}
	if !renewedSerials(t, c, "det")[renewed] {
		j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-n", "30")
		t.Errorf("journalctl -u certagent CERTAGENT_EVENT=renewed CERTAGENT_CERT=det lacks %s\n%s", renewed, j)
	}
	if e := journalJSON(t, c, "CERTAGENT_EVENT=renewed", "CERTAGENT_CERT=det"); len(e) == 0 {
		t.Errorf("journalctl CERTAGENT_EVENT=renewed CERTAGENT_CERT=det shows nothing")
	}
	if e := journalJSON(t, c, "-u", "certagent", "CERTAGENT_EVENT=control_request", "CERTAGENT_OP=renew"); len(e) != 1 {
		t.Errorf("%d control_request entries for the renew, want 1", len(e))
	}
	if got := show(t, c, "determined-master.service", "InvocationID"); got == inv {
		t.Errorf("determined-master was not restarted")
	}
	if got := servedSerial(t, c); got != renewed {
		t.Errorf("determined-master serves %s, want %s", got, renewed)
	}
	var ok bool
	for _, e := range journalJSON(t, c, "-u", "certagent", "CERTAGENT_CERT=det", "CERTAGENT_EVENT=unit_action") {
		ok = ok || e["CERTAGENT_UNIT"] == "determined-master.service" && e["CERTAGENT_VERDICT"] == "ok"
	}
	if !ok {
		t.Errorf("no unit_action ok entry for det and determined-master.service in the daemon's journal")
	}
}

// vaultConfig is a cert whose key is encrypted with a password that only
// a systemd credential holds.
const vaultConfig = `[issuers.cluster]
type = "local"

[certs.vault]
issuer = "cluster"
dns_names = ["vault.example.com"]
cert_file = "/etc/ssl/certagent/vault/cert.pem"
key_file = "/etc/ssl/certagent/vault/key.pem"
key_password_credential = "vault-key-password"
`

// TestCredentialBackedCertRenewsThroughTheDaemon: with the password in
// LoadCredential=, `certagent renew --force vault` from a shell renews
// (the daemon has $CREDENTIALS_DIRECTORY); in-process (--local) it cannot.
func TestCredentialBackedCertRenewsThroughTheDaemon(t *testing.T) {
	c := startPackaged(t, "")
	c.WriteFile(t, "/etc/certagent/secrets/vault-key-password", "Correct-Horse-42!", 0o600)
	c.WriteFile(t, "/etc/systemd/system/certagent.service.d/50-vault.conf",
		"[Service]\nLoadCredential=vault-key-password:/etc/certagent/secrets/vault-key-password\n", 0o644)
	c.WriteFile(t, "/etc/certagent/conf.d/vault.toml", vaultConfig, 0o644)
	c.Exec(t, "systemctl", "daemon-reload")
	c.Exec(t, "systemctl", "restart", "certagent.service")
	waitActive(t, c, "certagent.service", 30*time.Second)
	const certFile = "/etc/ssl/certagent/vault/cert.pem"
	waitFor(t, c, 30*time.Second, "certagent to issue vault", func() bool { return exists(c, certFile) })
	if key := c.Exec(t, "head", "-1", "/etc/ssl/certagent/vault/key.pem"); !strings.Contains(key, "ENCRYPTED PRIVATE KEY") {
		t.Fatalf("vault's key is not encrypted: %q", key)
	}
	old := diskSerial(t, c, certFile)

	out, err := c.Run("certagent", "renew", "--force", "vault")
	if err != nil {
		t.Fatalf("certagent renew --force vault: %v\n%s", err, out)
	}
	renewed := diskSerial(t, c, certFile)
	if renewed == old {
		t.Fatalf("vault was not renewed (still %s)\n%s", old, out)
	}
	if !renewedSerials(t, c, "vault")[renewed] {
		t.Errorf("the renewal of vault (%s) is not in the daemon's journal", renewed)
	}
	c.Exec(t, "sh", "-c", "openssl pkey -in /etc/ssl/certagent/vault/key.pem -passin file:/etc/certagent/secrets/vault-key-password -pubout > /run/a && "+
		"openssl x509 -noout -pubkey -in "+certFile+" > /run/b && cmp /run/a /run/b")

	// What the shell alone could do: nothing, without the credential.
	out, err = c.Run("certagent", "renew", "--force", "--local", "vault")
	if err == nil || !strings.Contains(out, "CREDENTIALS_DIRECTORY") {
		t.Errorf("renew --local of a credential-backed cert: %v, want a failure naming $CREDENTIALS_DIRECTORY\n%s", err, out)
	}
	if got := diskSerial(t, c, certFile); got != renewed {
		t.Errorf("a failed in-process renewal changed vault's cert (%s → %s)", renewed, got)
	}
}

// TestSystemctlReloadTellsTheTruth: `systemctl reload certagent` with a
// broken drop-in exits non-zero; `systemctl status` then shows
// "config rejected at HH:MM: <first problem>" and the problems, one
// journal entry each, until a good reload. SIGHUP still reloads.
func TestSystemctlReloadTellsTheTruth(t *testing.T) {
	c := startPackaged(t, "")
	const unit = "certagent.service"
	pid := show(t, c, unit, "MainPID")
	const drop = "/etc/certagent/conf.d/50-broken.toml"
	c.WriteFile(t, drop, "[agent]\nlog_levle = \"debug\"\n\n[certs.x]\nissuer = \"nope\"\n", 0o644)

	out, err := c.Run("systemctl", "reload", unit)
	if err == nil {
		t.Fatalf("systemctl reload with a broken drop-in exited 0\n%s", out)
	}
	first := drop + `:2: agent: key "log_levle"`
	status := regexp.MustCompile(`^config rejected at \d\d:\d\d: ` + regexp.QuoteMeta(first))
	if st := show(t, c, unit, "StatusText"); !status.MatchString(st) {
		t.Errorf("StatusText %q, want %s", st, status)
	}
	sys, _ := c.Run("systemctl", "status", "--no-pager", "--full", unit)
	if !strings.Contains(sys, `Status: "config rejected at`) || !strings.Contains(sys, "certagent: reload: "+first) {
		t.Errorf("systemctl status does not show the rejection and its first problem:\n%s", sys)
	}
	rejected := journalJSON(t, c, "-u", unit, "CERTAGENT_EVENT=config_rejected")
	if len(rejected) < 2 {
		t.Errorf("%d config_rejected entries, want one per problem (at least 2)", len(rejected))
	}
	for _, e := range rejected {
		if msg, _ := e["MESSAGE"].(string); strings.Contains(msg, `\n`) || strings.Contains(msg, "\n") {
			t.Errorf("a config_rejected entry spans several problems: %q", msg)
		}
	}
	if got := show(t, c, unit, "ActiveState"); got != "active" || show(t, c, unit, "MainPID") != pid {
		t.Fatalf("after a rejected reload the daemon is %s (MainPID %s, was %s)", got, show(t, c, unit, "MainPID"), pid)
	}

	// SIGHUP still reloads (and still rejects).
	n := len(rejected)
	c.Exec(t, "systemctl", "kill", "-s", "HUP", "--kill-whom=main", unit)
	if e := waitJournalCount(t, c, n+1, 10*time.Second, "-u", unit, "CERTAGENT_EVENT=config_rejected"); len(e) <= n {
		t.Errorf("SIGHUP with the broken drop-in logged no new config_rejected")
	}

	c.Exec(t, "rm", drop)
	if out, err := c.Run("systemctl", "reload", unit); err != nil {
		t.Fatalf("systemctl reload of the fixed config: %v\n%s", err, out)
	}
	if st := show(t, c, unit, "StatusText"); strings.Contains(st, "rejected") {
		t.Errorf("StatusText after a good reload: %q", st)
	}
	if e := journalJSON(t, c, "-u", unit, "CERTAGENT_EVENT=config_reloaded"); len(e) == 0 {
		t.Errorf("no config_reloaded entry after the good reload")
	}
}

// waitJournalCount polls until journalctl returns at least n entries.
func waitJournalCount(t *testing.T, c *nspawn.Container, n int, timeout time.Duration, args ...string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		e := journalJSON(t, c, args...)
		if len(e) >= n || time.Now().After(deadline) {
			return e
		}
		time.Sleep(200 * time.Millisecond)
	}
}

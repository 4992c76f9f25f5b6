package systemd

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// Helpers for the scenarios of issue 4 (3, 6, 7) and issue 7 item 4.

const (
	detCertFile = "/etc/ssl/certagent/det/cert.pem"
	// msgUnitStarting is systemd's MESSAGE_ID of "Starting <unit>...",
	// logged once per start attempt (also for the start half of a restart).
	msgUnitStarting = "7d4958e842da4a758f6c1cdc7b36dcc5"
)

// shortLived turns detConfig into a cert the daemon renews on its own
// schedule: valid 2 minutes, renewed 20 s after issuance (and every 20 s
// after that).
func shortLived(cfg string) string {
	return cfg + "validity = \"2m\"\nrenew_before = \"100s\"\n"
}

// manage installs unit (as determined-master.service) and the cert
// config, reloads the daemon and waits until it has written the cert.
func manage(t *testing.T, c *nspawn.Container, cfg, unit string) {
	t.Helper()
	c.WriteFile(t, "/etc/systemd/system/determined-master.service", unit, 0o644)
	c.WriteFile(t, "/etc/certagent/conf.d/det.toml", cfg, 0o644)
	c.Exec(t, "systemctl", "daemon-reload")
	c.Exec(t, "systemctl", "reload", "certagent.service")
	waitFor(t, c, 30*time.Second, "certagent to issue det after the reload", func() bool {
		return exists(c, detCertFile)
	})
}

// waitFor polls cond every 200 ms; after timeout it fails t, logging the
// certagent journal tail.
func waitFor(t *testing.T, c *nspawn.Container, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-n", "40")
			t.Fatalf("timed out after %s waiting for %s\ncertagent journal:\n%s", timeout, what, j)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// diskSerial is the serial of the cert file as openssl prints it.
func diskSerial(t *testing.T, c *nspawn.Container, path string) string {
	t.Helper()
	return strings.TrimSpace(c.Exec(t, "openssl", "x509", "-noout", "-serial", "-in", path))
}

// unitStarts counts systemd's "Starting …" entries for unit: start
// attempts, successful or not.
func unitStarts(t *testing.T, c *nspawn.Container, unit string) int {
	t.Helper()
	return len(journalJSON(t, c, "_PID=1", "UNIT="+unit, "MESSAGE_ID="+msgUnitStarting))
}

// certStatus returns det's object from `certagent status --json`.
func certStatus(t *testing.T, c *nspawn.Container, name string) map[string]any {
	t.Helper()
	out := c.Exec(t, "certagent", "status", "--json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("certagent status --json: %v\n%s", err, out)
	}
	for _, r := range rows {
		if r["name"] == name {
			return r
		}
	}
	t.Fatalf("certagent status --json has no %q:\n%s", name, out)
	return nil
}

// buildFailpoint builds certagent with -tags failpoint into a temp dir.
func buildFailpoint(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "certagent-failpoint")
	cmd := exec.Command("go", "build", "-tags", "failpoint", "-trimpath", "-o", bin, "./cmd/certagent")
	cmd.Dir = nspawn.RepoRoot(t)
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags failpoint: %v\n%s", err, out)
	}
	return bin
}

// renewedSerials are the serials of cert's "renewed" journal entries, in
// openssl's "serial=HEX" form.
func renewedSerials(t *testing.T, c *nspawn.Container, cert string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, e := range journalJSON(t, c, "-u", "certagent", "CERTAGENT_CERT="+cert, "CERTAGENT_EVENT=renewed") {
		if s, _ := e["CERTAGENT_SERIAL"].(string); s != "" {
			out["serial="+strings.ToUpper(s)] = true
		}
	}
	return out
}

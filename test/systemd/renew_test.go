package systemd

import (
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// detConfig manages one cert from a local CA for determined-master.
const detConfig = `[issuers.cluster]
type = "local"

[certs.det]
issuer = "cluster"
common_name = "det.example.com"
dns_names = ["det.example.com"]
ip_addresses = ["127.0.0.1"]
cert_file = "/etc/ssl/certagent/det/cert.pem"
key_file = "/etc/ssl/certagent/det/key.pem"
ca_file = "/etc/ssl/certagent/det/ca.pem"
units = ["determined-master.service"]
action = "restart"
`

// detUnit stands in for determined-master: a TLS server on the managed pair.
const detUnit = `[Unit]
Description=determined-master stand-in (openssl s_server on the managed cert)
[Service]
ExecStart=/usr/bin/openssl s_server -quiet -accept 127.0.0.1:8443 -cert /etc/ssl/certagent/det/cert.pem -key /etc/ssl/certagent/det/key.pem -www
`

// servedSerial asks the running server for its certificate's serial.
func servedSerial(t *testing.T, c *nspawn.Container) string {
	t.Helper()
	var out string
	for i := 0; i < 25; i++ { // s_server needs a moment after a restart
		out, _ = c.Run("sh", "-c", "openssl s_client -connect 127.0.0.1:8443 -CAfile /etc/ssl/certagent/det/ca.pem "+
			"-verify_return_error </dev/null 2>/dev/null | openssl x509 -noout -serial")
		if strings.HasPrefix(out, "serial=") {
			return strings.TrimSpace(out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("could not read the served certificate: %q", out)
	return ""
}

// Scenario 2 (and 3, through a transient unit): a forced renewal restarts
// the dependent unit, which then serves the new certificate; a stopped
// unit stays stopped.
func TestRenewRestartsTheDependentUnit(t *testing.T) {
	c := startPackaged(t, "")
	c.WriteFile(t, "/etc/certagent/conf.d/det.toml", detConfig, 0o644)
	c.WriteFile(t, "/etc/systemd/system/determined-master.service", detUnit, 0o644)
	c.Exec(t, "systemctl", "daemon-reload")
	c.Exec(t, "systemctl", "reload", "certagent.service")
	deadline := time.Now().Add(30 * time.Second)
	for !exists(c, "/etc/ssl/certagent/det/cert.pem") {
		if time.Now().After(deadline) {
			j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-n", "40")
			t.Fatalf("certagent did not issue det within 30s of the reload\n%s", j)
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Exec(t, "systemctl", "start", "determined-master.service")
	serial := servedSerial(t, c)
	inv := show(t, c, "determined-master.service", "InvocationID")

	// The one-shot renewal from a shell is done by the daemon (issue 14),
	// so its log is the daemon's journal.
	c.Exec(t, "certagent", "renew", "--force", "det")
	if got := show(t, c, "determined-master.service", "InvocationID"); got == inv {
		t.Errorf("determined-master was not restarted (InvocationID still %s)", inv)
	}
	if got := servedSerial(t, c); got == serial {
		t.Errorf("s_client still sees %s after the renewal", serial)
	}
	// A unit the operator stopped stays stopped.
	c.Exec(t, "systemctl", "stop", "determined-master.service")
	c.Exec(t, "systemctl", "reset-failed")
	c.Exec(t, "certagent", "renew", "--force", "det")
	if got := show(t, c, "determined-master.service", "ActiveState"); got != "inactive" {
		t.Errorf("a stopped unit was started by the renewal: ActiveState=%s", got)
	}

	// Scenario 3: the action is in the journal under the cert's name.
	if e := waitJournal(t, c, 10*time.Second, "-u", "certagent", "CERTAGENT_CERT=det", "CERTAGENT_EVENT=unit_action"); len(e) == 0 {
		j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-o", "verbose")
		t.Errorf("no journal entry CERTAGENT_CERT=det CERTAGENT_EVENT=unit_action\n%s", j)
	} else if u, _ := e[0]["CERTAGENT_UNIT"].(string); u != "determined-master.service" {
		t.Errorf("unit_action entry has CERTAGENT_UNIT=%q", u)
	}
}

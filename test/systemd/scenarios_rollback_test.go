package systemd

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// refuseNewCert is an ExecStartPre= check: the first serial it sees is
// the good one; any other serial makes the start fail, like a service
// that cannot use a new certificate.
const refuseNewCert = `#!/bin/sh
s=$(openssl x509 -noout -serial -in /etc/ssl/certagent/det/cert.pem) || exit 1
[ -f /var/lib/det-good-serial ] || echo "$s" > /var/lib/det-good-serial
if [ "$s" != "$(cat /var/lib/det-good-serial)" ]; then
	echo "refusing the new certificate $s" >&2
	exit 1
fi
`

// pickyUnit is determined-master that only ever accepts its first cert.
const pickyUnit = `[Unit]
Description=determined-master stand-in that refuses a changed certificate
[Service]
ExecStartPre=/usr/local/bin/refuse-new-cert
ExecStart=/usr/bin/openssl s_server -quiet -accept 127.0.0.1:8443 -cert /etc/ssl/certagent/det/cert.pem -key /etc/ssl/certagent/det/key.pem -www
`

// Scenario 6: the daemon's scheduled renewal restarts a unit that refuses
// the new cert; certagent restores the previous pair, the unit is active
// again on it, the journal says rollback, status says failed with
// "rolled back", and the new cert is not deployed again and again.
func TestRollbackRestoresThePreviousPair(t *testing.T) {
	c := startPackaged(t, "")
	c.WriteFile(t, "/usr/local/bin/refuse-new-cert", refuseNewCert, 0o755)
	manage(t, c, shortLived(detConfig)+"rollback = true\n", pickyUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	good := servedSerial(t, c)
	inv := show(t, c, "determined-master.service", "InvocationID")

	// The scheduled renewal comes 20 s after issuance; the rollback
	// follows within the settle time.
	rb := waitJournal(t, c, 60*time.Second, "-u", "certagent", "CERTAGENT_EVENT=rollback")
	if len(rb) == 0 {
		j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-u", "determined-master", "-n", "60")
		t.Fatalf("no CERTAGENT_EVENT=rollback entry within 60s of issuance\n%s", j)
	}
	if cert, _ := rb[0]["CERTAGENT_CERT"].(string); cert != "det" {
		t.Errorf("rollback entry has CERTAGENT_CERT=%q, want det", cert)
	}
	if u, _ := rb[0]["CERTAGENT_UNIT"].(string); u != "determined-master.service" {
		t.Errorf("rollback entry has CERTAGENT_UNIT=%q", u)
	}
	if e := journalJSON(t, c, "-u", "determined-master", "--grep", "refusing the new certificate"); len(e) == 0 {
		t.Errorf("the unit never saw the new certificate (no refusal in its journal): the rollback was not caused by it")
	}

	// The unit is active again, on a new invocation, serving the old pair.
	waitFor(t, c, 30*time.Second, "determined-master to be active again after the rollback", func() bool {
		return show(t, c, "determined-master.service", "ActiveState") == "active"
	})
	if got := show(t, c, "determined-master.service", "InvocationID"); got == inv {
		t.Errorf("determined-master was never restarted (InvocationID still %s)", inv)
	}
	if got := servedSerial(t, c); got != good {
		t.Errorf("after the rollback the unit serves %s, want the previous %s", got, good)
	}
	if got := diskSerial(t, c, detCertFile); got != good {
		t.Errorf("after the rollback the cert on disk is %s, want the previous %s", got, good)
	}
	// The operator's per-cert query also shows the restart on the old pair.
	var again bool
	for deadline := time.Now().Add(15 * time.Second); !again && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, e := range journalJSON(t, c, "-u", "certagent", "CERTAGENT_CERT=det", "CERTAGENT_EVENT=unit_action") {
			msg, _ := e["MESSAGE"].(string)
			again = again || e["CERTAGENT_VERDICT"] == "ok" && strings.Contains(msg, "previous certificate")
		}
	}
	if !again {
		j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "CERTAGENT_EVENT=unit_action", "-o", "verbose")
		t.Errorf("journalctl -u certagent CERTAGENT_CERT=det CERTAGENT_EVENT=unit_action lacks the restart on the previous certificate\n%s", j)
	}
	c.Exec(t, "sh", "-c", "openssl x509 -noout -pubkey -in /etc/ssl/certagent/det/cert.pem > /run/a && "+
		"openssl pkey -pubout -in /etc/ssl/certagent/det/key.pem > /run/b && cmp /run/a /run/b")

	// status shows the failure and its reason (once the agent has judged
	// the rollback's restart and published, a moment after the unit is up).
	var st map[string]any
	rolledBack := func() bool {
		st = certStatus(t, c, "det")
		lastErr, _ := st["last_error"].(string)
		return st["state"] == "failed" && strings.Contains(lastErr, "rolled back")
	}
	deadline := time.Now().Add(15 * time.Second)
	for !rolledBack() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if !rolledBack() {
		rec, _ := c.Run("cat", "/var/lib/certagent/status.json")
		t.Errorf("certagent status --json after the rollback: %v\nwant state failed with \"rolled back\" in last_error\nstatus.json: %s", st, rec)
	}
	if sum := show(t, c, "certagent.service", "StatusText"); !strings.Contains(sum, "det") {
		t.Errorf("StatusText does not mention the failing cert: %q", sum)
	}

	// No re-deploy loop: the unit is left alone until the retry time the
	// rollback recorded (next_renewal), or for 30 s when that is later.
	// The retry is drawn from the whole backoff window (full jitter,
	// bounded by a quarter of this 2-minute cert's remaining lifetime),
	// so it may come before 30 s; what must not happen is a deploy before it.
	retry, err := time.Parse(time.RFC3339, fmt.Sprint(st["next_renewal"]))
	if err != nil {
		t.Fatalf("status next_renewal %v: %v", st["next_renewal"], err)
	}
	quiet := min(30*time.Second, time.Until(retry)-2*time.Second)
	starts := unitStarts(t, c, "determined-master.service")
	time.Sleep(max(quiet, 0))
	if n := unitStarts(t, c, "determined-master.service") - starts; n != 0 {
		j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-u", "determined-master", "-n", "60")
		t.Errorf("determined-master was started %d more times in the %s after the rollback, before its retry at %s (re-deploy loop?)\n%s", n, quiet, retry, j)
	}
	if got := show(t, c, "determined-master.service", "ActiveState"); got != "active" {
		t.Errorf("determined-master is %s %s after the rollback", got, quiet)
	}
	if got := diskSerial(t, c, detCertFile); got != good {
		t.Errorf("%s after the rollback the cert on disk is %s, want %s", quiet, got, good)
	}
}

// Scenario 6 from the operator's shell: with the daemon stopped,
// `certagent renew --force det` rolls back a cert the unit refuses, exits
// non-zero saying so, and `certagent status --json` afterwards shows the
// cert failed with "rolled back" on the restored serial.
func TestRenewOnceRollbackShowsInStatus(t *testing.T) {
	c := startPackaged(t, "")
	c.WriteFile(t, "/usr/local/bin/refuse-new-cert", refuseNewCert, 0o755)
	manage(t, c, detConfig+"rollback = true\n", pickyUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	good := servedSerial(t, c)
	c.Exec(t, "systemctl", "stop", "certagent.service")

	out, err := c.Run("certagent", "renew", "--force", "det")
	if err == nil || !strings.Contains(out, "rolled back") {
		t.Errorf("certagent renew --force det with a refusing unit: err=%v, want a failure saying \"rolled back\"\n%s", err, out)
	}
	if got := show(t, c, "determined-master.service", "ActiveState"); got != "active" {
		t.Errorf("determined-master is %s after the rollback, want active", got)
	}
	if got := servedSerial(t, c); got != good {
		t.Errorf("after the rollback the unit serves %s, want the previous %s", got, good)
	}
	st := certStatus(t, c, "det")
	lastErr, _ := st["last_error"].(string)
	serial, _ := st["serial"].(string)
	if st["state"] != "failed" || !strings.Contains(lastErr, "rolled back") || "serial="+strings.ToUpper(serial) != good {
		rec, _ := c.Run("cat", "/var/lib/certagent/status.json")
		t.Errorf("certagent status --json after the rollback: %v\nwant state failed, \"rolled back\" in last_error, serial %s\nstatus.json: %s", st, good, rec)
	}
}

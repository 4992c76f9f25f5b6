package systemd

import (
	"testing"
	"time"
)

// Scenario 7: certagent is killed after the new files are renamed into
// place and before the unit action (failpoint agent-before-actions, in a
// `-tags failpoint` build). The unit keeps serving the old cert until
// certagent.service starts again; then the recorded intent is delivered:
// determined-master gets a new invocation and serves the new serial.
func TestCrashBeforeRestartIsDeliveredOnNextStart(t *testing.T) {
	c := startPackaged(t, "")
	fp := c.Share(t, buildFailpoint(t), 0o755)
	manage(t, c, detConfig, detUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	old := servedSerial(t, c)
	inv := show(t, c, "determined-master.service", "InvocationID")

	// The daemon would deliver the pending action on its next pass; stop
	// it so that only a new start can.
	c.Exec(t, "systemctl", "stop", "certagent.service")
	out, err := c.Run("systemd-run", "--unit=certagent-crash", "--wait", "--quiet",
		"--setenv=CERTAGENT_FAILPOINT=agent-before-actions", fp, "renew", "--force", "det")
	if err == nil {
		t.Fatalf("the failpoint build was not killed at agent-before-actions:\n%s", out)
	}
	if r := show(t, c, "certagent-crash.service", "Result"); r != "signal" {
		t.Errorf("certagent-crash.service Result=%s, want signal (SIGKILL at the failpoint)", r)
	}

	// Files renamed, unit untouched: the dangerous window.
	renewed := diskSerial(t, c, detCertFile)
	if renewed == old {
		t.Fatalf("the crashed renewal did not write the new cert (still %s)", old)
	}
	if got := show(t, c, "determined-master.service", "InvocationID"); got != inv {
		t.Fatalf("determined-master was restarted before the crash point (InvocationID %s → %s)", inv, got)
	}
	if got := servedSerial(t, c); got != old {
		t.Fatalf("determined-master serves %s before any restart, want %s", got, old)
	}

	// The next start of certagent delivers the action.
	c.Exec(t, "systemctl", "start", "certagent.service")
	waitActive(t, c, "certagent.service", 30*time.Second)
	waitFor(t, c, 30*time.Second, "determined-master to be restarted by the restarted certagent", func() bool {
		return show(t, c, "determined-master.service", "InvocationID") != inv &&
			show(t, c, "determined-master.service", "ActiveState") == "active"
	})
	if got := servedSerial(t, c); got != renewed {
		t.Errorf("after the delivered restart s_client sees %s, want the renewed %s", got, renewed)
	}
	var ok bool
	for deadline := time.Now().Add(15 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, e := range journalJSON(t, c, "-u", "certagent", "CERTAGENT_CERT=det", "CERTAGENT_EVENT=unit_action") {
			ok = ok || e["CERTAGENT_VERDICT"] == "ok"
		}
	}
	if !ok {
		t.Errorf("no unit_action ok entry for det from certagent.service after its restart")
	}
}

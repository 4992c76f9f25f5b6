package systemd

import (
	"strings"
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

// failpointDropIn runs the failpoint build as the daemon. The failpoint is
// armed only for a process started while /var/lib/fp/arm exists, and
// disarmed as it starts, so systemd's restart after the kill runs clean.
const failpointDropIn = `[Service]
ExecStart=
ExecStart=/bin/sh -c 'if [ -e /var/lib/fp/arm ]; then rm /var/lib/fp/arm; export CERTAGENT_FAILPOINT=agent-before-actions; fi; exec /share/certagent-failpoint run'
ReadWritePaths=/var/lib/fp
RestartSec=1s
`

// Scenario 7 as issue 4 states it: the daemon itself is killed at the
// instant between the renames and the unit action of a scheduled renewal;
// systemd restarts it (Restart=on-failure) and the new process restarts
// determined-master, which then serves the renewed cert.
func TestDaemonKilledBeforeRestartDeliversAfterRestart(t *testing.T) {
	c := startPackaged(t, "")
	c.Share(t, buildFailpoint(t), 0o755)
	c.Exec(t, "mkdir", "-p", "/var/lib/fp")
	c.WriteFile(t, "/etc/systemd/system/certagent.service.d/60-failpoint.conf", failpointDropIn, 0o644)
	c.Exec(t, "systemctl", "daemon-reload")
	c.Exec(t, "systemctl", "restart", "certagent.service")
	waitActive(t, c, "certagent.service", 30*time.Second)

	manage(t, c, shortLived(detConfig), detUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	old := servedSerial(t, c)
	inv := show(t, c, "determined-master.service", "InvocationID")
	c.Exec(t, "touch", "/var/lib/fp/arm")
	c.Exec(t, "systemctl", "restart", "certagent.service")
	waitActive(t, c, "certagent.service", 30*time.Second)
	armed := show(t, c, "certagent.service", "MainPID")
	if exists(c, "/var/lib/fp/arm") {
		t.Fatalf("the daemon did not start through the failpoint wrapper")
	}

	// The scheduled renewal (20 s after issuance) kills the armed daemon.
	waitFor(t, c, 60*time.Second, "the armed daemon to be killed and restarted by systemd", func() bool {
		return show(t, c, "certagent.service", "NRestarts") != "0"
	})
	waitActive(t, c, "certagent.service", 30*time.Second)
	if j := c.Exec(t, "journalctl", "--no-pager", "-u", "certagent", "-o", "cat", "_PID=1"); !strings.Contains(j, "status=9/KILL") {
		t.Errorf("systemd did not see the daemon die of SIGKILL:\n%s", j)
	}
	// By PID alone: journald attributes an entry to a unit by reading the
	// sender's cgroup when it receives it, and the failpoint kills the
	// daemon right after it logs the renewal, so under load its last
	// entries can arrive without _SYSTEMD_UNIT.
	killed := journalJSON(t, c, "_PID="+armed)
	var renewedByKilled, actedByKilled bool
	for _, e := range killed {
		renewedByKilled = renewedByKilled || e["CERTAGENT_EVENT"] == "renewed"
		actedByKilled = actedByKilled || e["CERTAGENT_EVENT"] == "unit_action"
	}
	if !renewedByKilled || actedByKilled {
		t.Errorf("the killed daemon (PID %s): renewed=%v unit_action=%v; want a renewal and no unit action", armed, renewedByKilled, actedByKilled)
	}

	// The restarted daemon delivers the restart.
	waitFor(t, c, 30*time.Second, "determined-master to be restarted by the restarted daemon", func() bool {
		return show(t, c, "determined-master.service", "InvocationID") != inv &&
			show(t, c, "determined-master.service", "ActiveState") == "active"
	})
	if got := servedSerial(t, c); got == old || !renewedSerials(t, c, "det")[got] {
		t.Errorf("after the delivered restart s_client sees %s; was %s, renewed: %v", got, old, renewedSerials(t, c, "det"))
	}
	restarted := show(t, c, "certagent.service", "MainPID")
	var ok bool
	for deadline := time.Now().Add(15 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		for _, e := range journalJSON(t, c, "-u", "certagent", "_PID="+restarted, "CERTAGENT_CERT=det", "CERTAGENT_EVENT=unit_action") {
			ok = ok || e["CERTAGENT_VERDICT"] == "ok"
		}
	}
	if !ok {
		t.Errorf("no unit_action ok entry for det from the restarted daemon (PID %s)", restarted)
	}
}

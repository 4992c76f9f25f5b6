package systemd

import (
	"strings"
	"testing"
	"time"
)

// Issue 7, item 4: D-Bus gone. With the system bus stopped, a forced
// renewal keeps the renewed files and leaves the restart pending (logged
// as such); once dbus is back the running daemon delivers the action on
// its own, without another `certagent renew`.
func TestBusGoneKeepsTheActionPending(t *testing.T) {
	c := startPackaged(t, "")
	manage(t, c, detConfig, detUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	old := servedSerial(t, c)
	inv := show(t, c, "determined-master.service", "InvocationID")

	// systemctl reaches PID 1 over its private socket, so it keeps working
	// without dbus-daemon; certagent uses the bus.
	c.Exec(t, "systemctl", "stop", "dbus.socket", "dbus.service")
	if out, err := c.Run("busctl", "--system", "list"); err == nil {
		t.Fatalf("the system bus still answers after stopping dbus:\n%s", out)
	}
	// systemd-run needs the bus too, so the operator runs it in a shell.
	out, err := c.Run("certagent", "renew", "--force", "det")
	t.Logf("certagent renew --force det without a bus: err=%v\n%s", err, out)

	renewed := diskSerial(t, c, detCertFile)
	if renewed == old {
		t.Fatalf("the renewal did not keep the new cert without a bus (still %s)", old)
	}
	c.Exec(t, "sh", "-c", "openssl x509 -noout -pubkey -in /etc/ssl/certagent/det/cert.pem > /run/a && "+
		"openssl pkey -pubout -in /etc/ssl/certagent/det/key.pem > /run/b && cmp /run/a /run/b")
	if !strings.Contains(out, "pending") || !strings.Contains(out, "determined-master.service") {
		t.Errorf("certagent renew did not say that the action for determined-master stays pending:\n%s", out)
	}
	// The daemon saw the new files and could not act either.
	if e := waitJournal(t, c, 15*time.Second, "-u", "certagent", "CERTAGENT_CERT=det",
		"CERTAGENT_UNIT=determined-master.service", "PRIORITY=4"); len(e) == 0 {
		t.Errorf("the daemon logged no warning about the pending action")
	}
	// The daemon retries with backoff (5 s, then doubling): during 12 s
	// without a bus it tries again, but it does not hot-loop.
	time.Sleep(12 * time.Second)
	tries := journalJSON(t, c, "-u", "certagent", "CERTAGENT_CERT=det",
		"CERTAGENT_UNIT=determined-master.service", "PRIORITY=4")
	if n := len(tries); n < 2 || n > 6 {
		j, _ := c.Run("journalctl", "--no-pager", "-u", "certagent", "-n", "30")
		t.Errorf("the daemon tried the pending action %d times in 12 s without a bus, want 2..6 (retry with backoff)\n%s", n, j)
	}
	if got := show(t, c, "determined-master.service", "InvocationID"); got != inv {
		t.Fatalf("determined-master was restarted without a bus? InvocationID %s → %s", inv, got)
	}
	if got := show(t, c, "certagent.service", "ActiveState"); got != "active" {
		t.Errorf("certagent.service is %s without a bus, want active", got)
	}

	// Bus back: the daemon delivers the action by itself.
	c.Exec(t, "systemctl", "start", "dbus.socket", "dbus.service")
	back := time.Now()
	waitFor(t, c, 90*time.Second, "the daemon to restart determined-master once dbus is back", func() bool {
		return show(t, c, "determined-master.service", "InvocationID") != inv &&
			show(t, c, "determined-master.service", "ActiveState") == "active"
	})
	t.Logf("action delivered %s after dbus came back", time.Since(back).Round(time.Second))
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
		t.Errorf("no unit_action ok entry for det from the daemon after dbus came back")
	}
}

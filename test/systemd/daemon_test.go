package systemd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// startPackaged boots a container, installs the .deb, applies an optional
// drop-in for certagent.service and starts the daemon.
func startPackaged(t *testing.T, dropIn string) *nspawn.Container {
	t.Helper()
	requireTools(t, "make", "gzip")
	nspawn.Require(t)
	p := buildPackages(t, version1)
	c := nspawn.Boot(t)
	installDeb(t, c, p.deb)
	if dropIn != "" {
		c.WriteFile(t, "/etc/systemd/system/certagent.service.d/50-test.conf", dropIn, 0o644)
		c.Exec(t, "systemctl", "daemon-reload")
	}
	c.Exec(t, "systemctl", "enable", "--now", "certagent.service")
	waitActive(t, c, "certagent.service", 30*time.Second)
	return c
}

// journalJSON returns the entries journalctl prints for args (-o json).
func journalJSON(t *testing.T, c *nspawn.Container, args ...string) []map[string]any {
	t.Helper()
	out, _ := c.Run(append([]string{"journalctl", "--no-pager", "-o", "json"}, args...)...)
	var entries []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("journalctl json %q: %v", line, err)
		}
		entries = append(entries, e)
	}
	return entries
}

// waitJournal polls until journalctl returns an entry for args.
func waitJournal(t *testing.T, c *nspawn.Container, timeout time.Duration, args ...string) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if e := journalJSON(t, c, args...); len(e) > 0 || time.Now().After(deadline) {
			return e
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Scenario 4: a stopped main loop is caught by the watchdog and the
// daemon is restarted.
func TestWatchdogRestartsAStuckDaemon(t *testing.T) {
	c := startPackaged(t, "[Service]\nWatchdogSec=3s\nRestartSec=1s\n")
	const unit = "certagent.service"
	pid := show(t, c, unit, "MainPID")

	// Alive and pinging: still the same process after two watchdog periods.
	time.Sleep(7 * time.Second)
	if got := show(t, c, unit, "MainPID"); got != pid || show(t, c, unit, "ActiveState") != "active" {
		j, _ := c.Run("journalctl", "--no-pager", "-u", unit, "-n", "30")
		t.Fatalf("daemon was not kept alive by its own WATCHDOG=1 pings (MainPID %s → %s)\n%s", pid, got, j)
	}

	c.Exec(t, "kill", "-STOP", pid)
	deadline := time.Now().Add(20 * time.Second)
	for show(t, c, unit, "NRestarts") == "0" {
		if time.Now().After(deadline) {
			t.Fatalf("no restart 20s after SIGSTOP with WatchdogSec=3s")
		}
		time.Sleep(200 * time.Millisecond)
	}
	waitActive(t, c, unit, 30*time.Second)
	if got := show(t, c, unit, "MainPID"); got == pid {
		t.Errorf("MainPID unchanged after the watchdog restart")
	}
	j := c.Exec(t, "journalctl", "--no-pager", "-u", unit, "-o", "cat")
	if !strings.Contains(j, "Watchdog timeout") || !strings.Contains(j, "'watchdog'") {
		t.Errorf("journal lacks the watchdog timeout and result 'watchdog':\n%s", j)
	}
}

// Scenario 5: SIGHUP with a broken drop-in keeps the old config running
// and logs config_rejected with the error; once fixed, it reloads.
func TestReloadRejectsABrokenConfig(t *testing.T) {
	c := startPackaged(t, "")
	const unit = "certagent.service"
	pid := show(t, c, unit, "MainPID")

	c.WriteFile(t, "/etc/certagent/conf.d/50-broken.toml", "[agent]\nlog_levle = \"debug\"\n", 0o644)
	if out, err := c.Run("systemctl", "reload", unit); err == nil { // issue 14: reload answers
		t.Errorf("systemctl reload with a broken drop-in exited 0\n%s", out)
	}
	rejected := waitJournal(t, c, 10*time.Second, "-u", unit, "CERTAGENT_EVENT=config_rejected")
	if len(rejected) == 0 {
		j, _ := c.Run("journalctl", "--no-pager", "-u", unit, "-n", "30")
		t.Fatalf("no CERTAGENT_EVENT=config_rejected entry after reload with a broken drop-in\n%s", j)
	}
	if msg, _ := rejected[0]["MESSAGE"].(string); !strings.Contains(msg, "log_levle") || !strings.Contains(msg, "50-broken.toml") {
		t.Errorf("config_rejected entry does not name the file and key: %q", msg)
	}
	if got := show(t, c, unit, "ActiveState"); got != "active" || show(t, c, unit, "MainPID") != pid {
		t.Fatalf("after a rejected reload the daemon is %s (MainPID %s, was %s)", got, show(t, c, unit, "MainPID"), pid)
	}

	c.Exec(t, "rm", "/etc/certagent/conf.d/50-broken.toml")
	c.Exec(t, "systemctl", "reload", unit)
	if e := waitJournal(t, c, 10*time.Second, "-u", unit, "CERTAGENT_EVENT=config_reloaded"); len(e) == 0 {
		t.Fatalf("no CERTAGENT_EVENT=config_reloaded entry after fixing the config")
	}
	if got := show(t, c, unit, "ActiveState"); got != "active" || show(t, c, unit, "MainPID") != pid {
		t.Errorf("after a good reload the daemon is %s, MainPID %s (was %s)", got, show(t, c, unit, "MainPID"), pid)
	}
}

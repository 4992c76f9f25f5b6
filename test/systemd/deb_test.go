package systemd

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// installDeb copies a .deb into the container and installs it with dpkg.
func installDeb(t *testing.T, c *nspawn.Container, deb string) {
	t.Helper()
	c.Exec(t, "dpkg", "-i", c.Share(t, deb, 0o644))
}

// show reads one unit property as `systemctl show -p P --value` prints it.
func show(t *testing.T, c *nspawn.Container, unit, prop string) string {
	t.Helper()
	return strings.TrimSpace(c.Exec(t, "systemctl", "show", "-p", prop, "--value", unit))
}

// waitActive polls until the unit is active, or fails with its status and
// journal after timeout.
func waitActive(t *testing.T, c *nspawn.Container, unit string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		state := show(t, c, unit, "ActiveState")
		if state == "active" {
			return
		}
		if time.Now().After(deadline) || state == "failed" {
			st, _ := c.Run("systemctl", "status", "--no-pager", "-l", unit)
			j, _ := c.Run("journalctl", "--no-pager", "-u", unit, "-n", "50")
			t.Fatalf("%s is %s, want active\n%s\n%s", unit, state, st, j)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// exists reports whether path exists inside the container.
func exists(c *nspawn.Container, path string) bool {
	_, err := os.Lstat(c.HostPath(path))
	return err == nil
}

// Scenario 1 and 8 of issue 4: install, enable --now, upgrade with an
// edited config, remove, purge — asserted with what an operator sees.
func TestDebLifecycle(t *testing.T) {
	requireTools(t, "make", "gzip")
	nspawn.Require(t)
	p1 := buildPackages(t, version1)
	p2 := buildPackages(t, version2)
	c := nspawn.Boot(t)
	const unit = "certagent.service"

	// Install: the unit is there, but neither enabled nor started.
	installDeb(t, c, p1.deb)
	if got := strings.TrimSpace(c.Exec(t, "certagent", "version")); !strings.Contains(got, version1) {
		t.Errorf("certagent version = %q, want it to contain %s", got, version1)
	}
	if got, _ := c.Run("systemctl", "is-enabled", unit); strings.TrimSpace(got) != "disabled" {
		t.Errorf("after dpkg -i: is-enabled = %q, want disabled", got)
	}
	if got := show(t, c, unit, "ActiveState"); got != "inactive" {
		t.Errorf("after dpkg -i: ActiveState = %s, want inactive (install must not start)", got)
	}
	c.Exec(t, "certagent", "check")
	for _, f := range wantFiles {
		if !exists(c, f) {
			t.Errorf("after dpkg -i: %s missing", f)
		}
	}

	// Scenario 1: enable --now reaches active with a STATUS summary.
	c.Exec(t, "systemctl", "enable", "--now", unit)
	waitActive(t, c, unit, 30*time.Second)
	if st := show(t, c, unit, "StatusText"); st == "" {
		t.Errorf("StatusText is empty; the daemon should send STATUS= (e.g. \"0 certs ok\")")
	} else {
		t.Logf("StatusText: %s", st)
	}
	if got := c.Exec(t, "stat", "-c", "%a", "/var/lib/certagent"); strings.TrimSpace(got) != "700" {
		t.Errorf("/var/lib/certagent mode %q, want 700", got)
	}
	if j := c.Exec(t, "journalctl", "--no-pager", "-u", unit, "SYSLOG_IDENTIFIER=certagent"); !strings.Contains(j, "certagent") {
		t.Errorf("no native journal entries from certagent:\n%s", j)
	}
	pid1 := show(t, c, unit, "MainPID")

	// Scenario 8a: upgrade keeps an edited config and restarts the daemon.
	edited := strings.Replace(c.Exec(t, "cat", "/etc/certagent/certagent.toml"),
		`log_level = "info"`, `log_level = "debug" # edited by the operator`, 1)
	c.WriteFile(t, "/etc/certagent/certagent.toml", edited, 0o644)
	c.WriteFile(t, "/etc/certagent/conf.d/10-local.toml", "# operator drop-in\n", 0o644)
	installDeb(t, c, p2.deb)
	if got := c.Exec(t, "cat", "/etc/certagent/certagent.toml"); got != edited {
		t.Errorf("upgrade replaced the edited config:\n%s", got)
	}
	if !exists(c, "/etc/certagent/conf.d/10-local.toml") {
		t.Errorf("upgrade removed the operator's drop-in")
	}
	if got := c.Exec(t, "certagent", "version"); !strings.Contains(got, version2) {
		t.Errorf("after upgrade certagent version = %q", got)
	}
	waitActive(t, c, unit, 30*time.Second)
	if pid2 := show(t, c, unit, "MainPID"); pid2 == pid1 {
		t.Errorf("upgrade did not restart the running daemon (MainPID still %s)", pid1)
	}
	if got, _ := c.Run("systemctl", "is-enabled", unit); strings.TrimSpace(got) != "enabled" {
		t.Errorf("after upgrade: is-enabled = %q, want enabled", got)
	}

	// Remove: stopped, binary and unit gone, config and state kept.
	c.Exec(t, "dpkg", "-r", "certagent")
	if got := show(t, c, unit, "ActiveState"); got == "active" {
		t.Errorf("dpkg -r left the daemon running")
	}
	for _, gone := range []string{"/usr/bin/certagent", "/usr/lib/systemd/system/certagent.service"} {
		if exists(c, gone) {
			t.Errorf("dpkg -r left %s", gone)
		}
	}
	for _, kept := range []string{"/etc/certagent/certagent.toml", "/var/lib/certagent"} {
		if !exists(c, kept) {
			t.Errorf("dpkg -r removed %s (only purge may)", kept)
		}
	}

	// Scenario 8b: purge removes the config and the state.
	c.Exec(t, "dpkg", "-P", "certagent")
	for _, gone := range []string{"/etc/certagent/certagent.toml", "/var/lib/certagent",
		"/etc/systemd/system/multi-user.target.wants/certagent.service"} {
		if exists(c, gone) {
			t.Errorf("dpkg -P left %s", gone)
		}
	}
	// list-unit-files exits 1 when nothing matches; the output is what counts.
	if out, _ := c.Run("systemctl", "list-unit-files", "--no-legend", "certagent.service"); strings.TrimSpace(out) != "" {
		t.Errorf("after purge systemd still knows the unit: %q", out)
	}
}

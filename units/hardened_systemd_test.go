package units

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/test/systemd/nspawn"
)

// TestHardenedHelper is not a test on its own: TestHardenedUnitAllowsTheJob
// runs this binary inside the container under the exact sandbox of
// packaging/certagent.service, and it does what certagent must still be
// able to do there.
func TestHardenedHelper(t *testing.T) {
	if os.Getenv("CERTAGENT_HARDENED_HELPER") != "1" {
		t.Skip("helper for TestHardenedUnitAllowsTheJob")
	}
	log := NewLogger(LoggerOptions{})
	fail := func(format string, args ...any) {
		log.Error(fmt.Sprintf(format, args...), "event", "hardened_check")
		t.Fatalf(format, args...)
	}

	// 1. Restart a unit over D-Bus without CAP_SYS_ADMIN.
	r, _ := NewRestarter(context.Background(), log)
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if v, err := r.Act(ctx, "ca-sleep.service", agent.ActionRestart, agent.ActOptions{}); err != nil {
		fail("restart over D-Bus: %v", err)
	} else {
		log.Info("restarted", "unit", "ca-sleep.service", "event", "unit_action", "invocation_id", v.InvocationID)
	}

	// 2. Write a file in the default output root the way the writer does:
	// temp file, owner and mode first, then rename.
	tmp := "/etc/ssl/certagent/.cert.pem.tmp"
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		fail("create in /etc/ssl/certagent: %v", err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		fail("chown to nobody: %v", err)
	}
	if err := os.Chmod(tmp, 0o640); err != nil {
		fail("chmod: %v", err)
	}
	if err := os.Rename(tmp, "/etc/ssl/certagent/cert.pem"); err != nil {
		fail("rename: %v", err)
	}
	// 3. State directory, 0700 and writable.
	if err := os.WriteFile("/var/lib/certagent/probe", []byte("x"), 0o600); err != nil {
		fail("write state dir: %v", err)
	}
	// 4. Everything else is read-only.
	if err := os.WriteFile("/etc/certagent-forbidden", nil, 0o600); !errors.Is(err, syscall.EROFS) {
		fail("writing /etc outside ReadWritePaths: %v, want EROFS", err)
	}
	log.Info("hardened checks passed", "event", "hardened_ok", "cert", "hardened")
}

// hardenedUnit turns packaging/certagent.service into a oneshot unit that
// runs bin's TestHardenedHelper with every sandboxing setting unchanged.
func hardenedUnit(t *testing.T, bin string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(nspawn.RepoRoot(t), "packaging", "certagent.service"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.HasPrefix(line, "Type="):
			line = "Type=oneshot"
		case strings.HasPrefix(line, "ExecStart="):
			line = "ExecStart=" + bin + " -test.run=^TestHardenedHelper$ -test.v\nEnvironment=CERTAGENT_HARDENED_HELPER=1"
		case strings.HasPrefix(line, "WatchdogSec="), strings.HasPrefix(line, "Restart="),
			strings.HasPrefix(line, "ExecReload="), strings.HasPrefix(line, "NotifyAccess="):
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func TestHardenedUnitAllowsTheJob(t *testing.T) {
	c, _ := bootWithUnits(t)
	c.Exec(t, "systemctl", "start", "ca-sleep.service")
	old := show(t, c, "ca-sleep.service", "InvocationID")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := c.Share(t, self, 0o755)
	c.Exec(t, "mkdir", "-p", "/etc/ssl/certagent")
	c.WriteFile(t, "/etc/systemd/system/ca-hardened.service", hardenedUnit(t, bin), 0o644)
	c.Exec(t, "systemctl", "daemon-reload")

	out, err := c.Run("systemctl", "start", "ca-hardened.service")
	journal, _ := c.Run("journalctl", "--no-pager", "-u", "ca-hardened.service", "-o", "cat")
	if err != nil {
		t.Fatalf("hardened helper failed: %v\n%s\njournal:\n%s", err, out, journal)
	}
	if !strings.Contains(journal, "hardened checks passed") {
		t.Fatalf("journal lacks the helper's success line:\n%s", journal)
	}
	if now := show(t, c, "ca-sleep.service", "InvocationID"); now == old {
		t.Errorf("ca-sleep.service was not restarted by the sandboxed helper")
	}
	if st := c.Exec(t, "stat", "-c", "%u:%g %a", "/etc/ssl/certagent/cert.pem"); strings.TrimSpace(st) != "65534:65534 640" {
		t.Errorf("written file is %q, want 65534:65534 640", st)
	}
	if st := c.Exec(t, "stat", "-c", "%a", "/var/lib/certagent"); strings.TrimSpace(st) != "700" {
		t.Errorf("StateDirectory mode %q, want 700", st)
	}
	// The effective sandbox really is the one we ship.
	caps := show(t, c, "ca-hardened.service", "CapabilityBoundingSet")
	if !regexp.MustCompile(`^cap_chown cap_dac_override cap_fowner cap_net_bind_service$`).MatchString(caps) {
		t.Errorf("CapabilityBoundingSet = %q", caps)
	}
}

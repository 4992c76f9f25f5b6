package nspawn

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBootExecStop checks the harness itself: the container boots a real
// systemd, commands run inside, /share is shared, and Stop leaves no
// process or cgroup behind.
func TestBootExecStop(t *testing.T) {
	c := Boot(t)
	if got := strings.TrimSpace(c.Exec(t, "cat", "/proc/1/comm")); got != "systemd" {
		t.Fatalf("PID 1 inside is %q, want systemd", got)
	}
	if err := os.WriteFile(filepath.Join(c.ShareDir, "hello"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.Exec(t, "cat", "/share/hello"); got != "hi" {
		t.Fatalf("/share/hello inside = %q", got)
	}
	if _, err := os.Stat(filepath.Join(c.HostPath("/run/dbus/system_bus_socket"))); err != nil {
		t.Fatalf("system bus socket not visible from the host: %v", err)
	}
	// is-enabled exits non-zero for masked units; the output is what counts.
	if out, _ := c.Run("systemctl", "is-enabled", "apt-daily.timer", "getty@tty1.service"); strings.Count(out, "masked") != 2 {
		t.Errorf("apt and getty units not masked: %q", out)
	}
	pid1, cgroups := c.PID1(), c.cgroups
	c.Stop()
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid1)); err == nil {
		t.Errorf("container PID 1 (%d) still running after Stop", pid1)
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left behind", d)
		}
	}
}

func TestMirrorParsing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "debian.sources")
	os.WriteFile(src, []byte("Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\n# comment: x\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"), 0o644)
	if got := mirrorFromDeb822(src); got != "http://mirror.example/debian" {
		t.Errorf("deb822 mirror = %q", got)
	}
	list := filepath.Join(dir, "sources.list")
	os.WriteFile(list, []byte("# x\ndeb [arch=amd64 signed-by=/k.gpg] http://m.example/debian bookworm main\n"), 0o644)
	if got := mirrorFromList(list); got != "http://m.example/debian" {
		t.Errorf("sources.list mirror = %q", got)
	}
}

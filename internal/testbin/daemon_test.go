package testbin

import (
	"strings"
	"testing"
	"time"
)

// TestDaemonCapturesLongLines: lines far beyond bufio.Scanner's 64 KiB
// (and the 1 MiB some copies raised it to) neither end the capture nor
// block the process, and every line after them is still seen.
func TestDaemonCapturesLongLines(t *testing.T) {
	script := `head -c 200000 /dev/zero | tr '\0' a >&2; echo >&2; echo after-200k >&2
head -c 3000000 /dev/zero | tr '\0' b >&2; printf '\r\n' >&2; echo end >&2
exec sleep 60`
	d := StartDaemon(t, DaemonOptions{}, "/bin/sh", "-c", script)
	d.Await(1, 30*time.Second, "end")
	if d.Count("after-200k") != 1 {
		t.Errorf("the line after a 200 KB line was not captured")
	}
	long := d.Lines("bbbb")
	if len(long) != 1 || len(long[0]) != 3000000 {
		t.Fatalf("the 3 MB line was not captured whole (without its CR LF): %d lines", len(long))
	}
	if !d.Alive() {
		t.Fatal("the process is not running before Stop")
	}
	if _, err := d.Stop(); err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Errorf("Stop: got %v, want the exit by SIGTERM", err)
	}
	if d.Alive() {
		t.Error("the process still runs after Stop")
	}
}

// TestDaemonBus: a daemon gets no D-Bus unless it asks for the system
// bus, and Env reaches it either way.
func TestDaemonBus(t *testing.T) {
	script := `echo "bus=$DBUS_SYSTEM_BUS_ADDRESS extra=$EXTRA" >&2; exec sleep 60`
	d := StartDaemon(t, DaemonOptions{Env: []string{"EXTRA=1"}}, "/bin/sh", "-c", script)
	d.Await(1, 30*time.Second, "bus="+strings.TrimPrefix(NoBusEnv, "DBUS_SYSTEM_BUS_ADDRESS=")+" extra=1")
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/run/host-bus")
	d = StartDaemon(t, DaemonOptions{Env: []string{"EXTRA=2"}, SystemBus: true}, "/bin/sh", "-c", script)
	d.Await(1, 30*time.Second, "bus=unix:path=/run/host-bus extra=2")
}

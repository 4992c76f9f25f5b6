package units

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// listenNotify creates a real NOTIFY_SOCKET and returns a function that
// reads the next datagram.
func listenNotify(t *testing.T) func() string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return func() string {
		t.Helper()
		buf := make([]byte, 4096)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("reading notify datagram: %v", err)
		}
		return string(buf[:n])
	}
}

func TestNotifierDatagrams(t *testing.T) {
	next := listenNotify(t)
	n := NewNotifier()

	for _, tc := range []struct {
		name string
		send func() error
		want string
	}{
		{"ready", n.Ready, "READY=1"},
		{"stopping", n.Stopping, "STOPPING=1"},
		{"watchdog", n.Watchdog, "WATCHDOG=1"},
		{"status", func() error { return n.Status("12 certs ok, 1 failing (web: acme rateLimited)") },
			"STATUS=12 certs ok, 1 failing (web: acme rateLimited)"},
		{"status one line", func() error { return n.Status("a\nb\r\nc") }, "STATUS=a b c"},
		{"status UTF-8 clean", func() error { return n.Status("web: x\xe2\x80") }, "STATUS=web: x\uFFFD"},
	} {
		if err := tc.send(); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := next(); got != tc.want {
			t.Errorf("%s: datagram %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNotifierReloadingCarriesMonotonicUsec(t *testing.T) {
	next := listenNotify(t)
	start := monotonicNow(t)
	if err := NewNotifier().Reloading(); err != nil {
		t.Fatal(err)
	}
	got := next()
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=([0-9]+)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("datagram %q, want RELOADING=1\\nMONOTONIC_USEC=<µs>", got)
	}
	usec, _ := strconv.ParseInt(m[1], 10, 64)
	if end := monotonicNow(t); usec < start || usec > end {
		t.Errorf("MONOTONIC_USEC=%d not within [%d, %d]", usec, start, end)
	}
}

// TestWatchdogAbstractSocket: systemd may hand an abstract socket
// (@name); the watchdog's own sender must reach it too.
func TestWatchdogAbstractSocket(t *testing.T) {
	name := "@certagent-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", name)
	if err := NewNotifier().Watchdog(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "WATCHDOG=1" {
		t.Fatalf("datagram %q, %v; want WATCHDOG=1", buf[:n], err)
	}
}

func TestNotifierNoSocketIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	os.Unsetenv("NOTIFY_SOCKET")
	n := NewNotifier()
	for _, f := range []func() error{n.Ready, n.Reloading, n.Stopping, n.Watchdog, func() error { return n.Status("x") }} {
		if err := f(); err != nil {
			t.Errorf("without NOTIFY_SOCKET: %v, want nil", err)
		}
	}
}

func TestNotifierBrokenSocketIsAnError(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "absent.sock"))
	if err := NewNotifier().Ready(); err == nil {
		t.Fatal("Ready to a missing socket returned nil")
	}
	if err := NewNotifier().Watchdog(); err == nil {
		t.Fatal("Watchdog to a missing socket returned nil")
	}
}

func TestWatchdogInterval(t *testing.T) {
	n := NewNotifier()
	for _, tc := range []struct {
		name, usec, pid string
		want            time.Duration
		ok              bool
	}{
		{"half of 60s", "60000000", "", 30 * time.Second, true},
		{"our pid", "2000000", strconv.Itoa(os.Getpid()), time.Second, true},
		{"other pid", "2000000", "1", 0, false},
		{"unset", "", "", 0, false},
		{"garbage", "soon", "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			got, ok := n.WatchdogInterval()
			if got != tc.want || ok != tc.ok {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

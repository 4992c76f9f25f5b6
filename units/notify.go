package units

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier speaks the sd_notify protocol to the service manager. Every
// method is a no-op returning nil when NOTIFY_SOCKET is unset (certagent
// run by hand, or Type=simple), so callers need no special case.
//
// It reads NOTIFY_SOCKET at each call. The unit file sets
// NotifyAccess=main, so only certagent's main process may notify; hooks
// it spawns should not inherit NOTIFY_SOCKET or WATCHDOG_* anyway.
type Notifier struct {
	send func(state string) (bool, error)
	// ping sends the watchdog's keep-alive (sendDatagram).
	ping func(state string) (bool, error)
	// monotonic returns the "MONOTONIC_USEC=…\n" line for RELOADING.
	monotonic func() string
}

// NewNotifier returns a Notifier for the current process.
func NewNotifier() *Notifier {
	return &Notifier{
		send:      func(s string) (bool, error) { return daemon.SdNotify(false, s) },
		ping:      sendDatagram,
		monotonic: daemon.SdNotifyMonotonicUsec,
	}
}

func (n *Notifier) notify(state string) error {
	_, err := n.send(state)
	return err
}

// Ready sends READY=1: after the first full pass, and after a reload.
func (n *Notifier) Ready() error { return n.notify(daemon.SdNotifyReady) }

// Reloading sends RELOADING=1 with MONOTONIC_USEC (required by
// Type=notify-reload and harmless for Type=notify). Follow it with Ready.
func (n *Notifier) Reloading() error {
	return n.notify(daemon.SdNotifyReloading + "\n" + strings.TrimSuffix(n.monotonic(), "\n"))
}

// Stopping sends STOPPING=1 at the start of shutdown.
func (n *Notifier) Stopping() error { return n.notify(daemon.SdNotifyStopping) }

// Status sends STATUS=msg, shown by `systemctl status`. Newlines would end
// the assignment, so they are replaced by spaces; systemd ignores a
// STATUS= that is not valid UTF-8 ("not UTF-8 clean"), so invalid bytes
// become U+FFFD. Callers keep msg short (agent.Summary cuts it on rune
// boundaries).
func (n *Notifier) Status(msg string) error {
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(msg)
	return n.notify("STATUS=" + msg)
}

// Watchdog sends WATCHDOG=1. Call it from the loop whose liveness it
// vouches for, every WatchdogInterval.
func (n *Notifier) Watchdog() error {
	_, err := n.ping(daemon.SdNotifyWatchdog)
	return err
}

// sendDatagram sends state to NOTIFY_SOCKET with raw, non-blocking
// socket, sendto and close system calls, outside the Go network poller
// and without the runtime's system-call bookkeeping. daemon.SdNotify
// dials through the poller (registering the socket reports it writable
// to a second runtime thread, which wakes) and its system calls wake the
// runtime's sysmon thread: about a dozen thread wake-ups per watchdog
// ping of an otherwise idle daemon, against one or two now. A full
// receive queue fails the ping (EAGAIN) rather than blocking; the next
// one follows within the interval. Addresses other than a path or an
// abstract @name (e.g. vsock) are left to go-systemd.
func sendDatagram(state string) (bool, error) {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return false, nil
	}
	var sa syscall.RawSockaddrUnix
	if (addr[0] != '/' && addr[0] != '@') || len(addr) >= len(sa.Path) {
		return daemon.SdNotify(false, state)
	}
	sa.Family = syscall.AF_UNIX
	for i := 0; i < len(addr); i++ {
		sa.Path[i] = int8(addr[i])
	}
	salen := 2 + len(addr) + 1 // with the path's NUL
	if addr[0] == '@' {
		sa.Path[0] = 0 // abstract: no NUL counted
		salen--
	}
	fd, _, errno := syscall.RawSyscall(syscall.SYS_SOCKET, syscall.AF_UNIX, syscall.SOCK_DGRAM|syscall.SOCK_CLOEXEC, 0)
	if errno != 0 {
		return false, &os.SyscallError{Syscall: "socket", Err: errno}
	}
	defer syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
	msg := []byte(state)
	_, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&msg[0])), uintptr(len(msg)),
		syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, uintptr(unsafe.Pointer(&sa)), uintptr(salen))
	if errno != 0 {
		return false, fmt.Errorf("send %s to NOTIFY_SOCKET %s: %w", state, addr, errno)
	}
	return true, nil
}

// WatchdogInterval returns how often to call Watchdog: half of
// WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends. ok is false when
// the watchdog is off, WATCHDOG_USEC is malformed, or WATCHDOG_PID names
// another process.
func (n *Notifier) WatchdogInterval() (d time.Duration, ok bool) {
	full, err := daemon.SdWatchdogEnabled(false)
	if err != nil || full <= 0 {
		return 0, false
	}
	return full / 2, true
}

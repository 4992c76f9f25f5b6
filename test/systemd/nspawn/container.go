package nspawn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// Container is a booted systemd-nspawn container. Its PID 1 is a real
// systemd; ShareDir on the host is bind-mounted at /share inside (the
// container's /tmp is a private tmpfs).
type Container struct {
	// Name is the machine name (-M), unique per Boot.
	Name string
	// Root is the cached rootfs on the host. It is shared by all
	// containers and never written: --volatile=overlay puts a tmpfs over
	// it, so every container starts from the same pristine tree.
	Root string
	// ShareDir is the host side of /share.
	ShareDir string

	pid1    int
	cmd     *exec.Cmd
	exited  chan struct{}
	console *testbin.SyncBuffer // nspawn's console, written by two goroutines
	cgroups []string
	stop    sync.Once
}

// sigRTMin4 is SIGRTMIN+4 as glibc and systemd number it: poweroff.
const sigRTMin4 = syscall.Signal(34 + 4)

// Boot unpacks the cached rootfs, starts systemd-nspawn and waits until
// the container's systemd reports running (or degraded, which is logged).
// The container is stopped and its cgroups removed when t ends, even if
// the test failed; on failure the container's journal tail is logged.
func Boot(t testing.TB) *Container {
	t.Helper()
	Require(t)
	rootfs := RootfsDir(t)

	start := time.Now()
	name := "certagent-" + randHex(4)
	runDir := filepath.Join(filepath.Dir(rootfs), "run")
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		t.Fatal(err)
	}
	base, err := os.MkdirTemp(runDir, name+"-")
	if err != nil {
		t.Fatal(err)
	}
	// Registered first, so it runs last: after Stop. Never walk into a
	// mount that somehow survived the container.
	t.Cleanup(func() {
		if unmountUnder(base) {
			os.RemoveAll(base)
		}
	})
	c := &Container{
		Name:     name,
		Root:     rootfs,
		ShareDir: filepath.Join(base, "share"),
		exited:   make(chan struct{}),
		console:  &testbin.SyncBuffer{},
	}
	// Services in the container run as other users and must reach /share.
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(c.ShareDir, 0o755); err != nil {
		t.Fatal(err)
	}
	c.cgroups = makeCgroups(t, c.Name)
	t.Cleanup(func() {
		if t.Failed() && c.pid1 > 0 {
			out, _ := c.Run("journalctl", "--no-pager", "-n", "80", "-o", "short-monotonic")
			t.Logf("container %s journal tail:\n%s", c.Name, out)
		}
		stopStart := time.Now()
		c.Stop()
		t.Logf("container %s stopped in %s", c.Name, time.Since(stopStart).Round(time.Millisecond))
		if t.Failed() {
			t.Logf("container %s console:\n%s", c.Name, tail(c.console.Bytes(), 40))
		}
	})

	// The shell moves itself into fresh cgroups before exec'ing nspawn,
	// so everything the container leaves behind can be removed.
	script := `for d in $CG_DIRS; do echo $$ > "$d/cgroup.procs" || exit 97; done; exec "$@"`
	c.cmd = exec.Command("sh", "-c", script, "sh", "systemd-nspawn",
		"-D", c.Root, "--boot", "-M", c.Name, "--register=no", "--keep-unit",
		"--console=read-only", "-q", "--bind="+c.ShareDir+":/share", "--volatile=overlay")
	c.cmd.Env = append(os.Environ(), "CG_DIRS="+strings.Join(c.cgroups, " "))
	c.cmd.Stdout, c.cmd.Stderr = c.console, c.console
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting systemd-nspawn: %v", err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()

	c.pid1 = c.waitPID1(t)
	c.waitRunning(t)
	t.Logf("container %s (PID 1 = %d) booted in %s", c.Name, c.pid1, time.Since(start).Round(time.Millisecond))
	return c
}

// waitRunning waits for `systemctl is-system-running --wait` to say
// running or degraded. Right after PID 1 appears its bus is not up yet and
// systemctl says "offline", so that is retried.
func (c *Container) waitRunning(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		out, err := c.RunContext(ctx, "systemctl", "is-system-running", "--wait")
		cancel()
		switch state := strings.TrimSpace(out); state {
		case "running":
			return
		case "degraded":
			failed, _ := c.Run("systemctl", "--failed", "--no-legend", "--plain")
			t.Logf("container %s is degraded: %s", c.Name, failed)
			return
		default:
			if time.Now().After(deadline) {
				t.Fatalf("container %s did not boot: is-system-running=%q (%v)", c.Name, state, err)
			}
		}
		select {
		case <-c.exited:
			t.Fatalf("systemd-nspawn exited during boot")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitPID1 finds the container's init among nspawn's descendants: the
// process whose innermost PID is 1.
func (c *Container) waitPID1(t testing.TB) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-c.exited:
			t.Fatalf("systemd-nspawn exited during boot:\n%s", tail(c.console.Bytes(), 40))
		default:
		}
		if pid := findInit(c.cmd.Process.Pid); pid > 0 {
			return pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %s: no PID 1 after 30s", c.Name)
	return 0
}

func findInit(pid int) int {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[0] == "NSpid:" && f[len(f)-1] == "1" {
				return pid
			}
		}
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		for _, child := range strings.Fields(string(data)) {
			if n, err := strconv.Atoi(child); err == nil {
				if p := findInit(n); p > 0 {
					return p
				}
			}
		}
	}
	return 0
}

// PID1 is the host PID of the container's systemd.
func (c *Container) PID1() int { return c.pid1 }

// HostPath maps a path inside the running container to the host.
func (c *Container) HostPath(p string) string {
	return fmt.Sprintf("/proc/%d/root%s", c.pid1, filepath.Join("/", p))
}

// BusAddress is a D-Bus address for the container's system bus, usable
// from the host (as root).
func (c *Container) BusAddress() string {
	return "unix:path=" + c.HostPath("/run/dbus/system_bus_socket")
}

// JournalDir is the container's persistent journal, as seen from the host.
func (c *Container) JournalDir() string { return c.HostPath("/var/log/journal") }

// Run runs a command inside the container (all namespaces of PID 1) with
// a clean environment and returns its combined output.
func (c *Container) Run(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return c.RunContext(ctx, args...)
}

// RunContext is Run with a caller's context.
func (c *Container) RunContext(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"-t", strconv.Itoa(c.pid1), "-a", "--",
		"env", "-i", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8", "SYSTEMD_COLORS=0", "SYSTEMD_PAGER=", "TERM=dumb"}, args...)
	out, err := exec.CommandContext(ctx, "nsenter", full...).CombinedOutput()
	return string(out), err
}

// Exec runs a command inside the container and fails t if it fails.
func (c *Container) Exec(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.Run(args...)
	if err != nil {
		t.Fatalf("in container: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// WriteFile writes a file inside the running container (e.g. a unit under
// /etc/systemd/system), creating parent directories.
func (c *Container) WriteFile(t testing.TB, path, content string, mode os.FileMode) {
	t.Helper()
	hp := c.HostPath(path)
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// Share copies a host file into ShareDir and returns its path inside the
// container.
func (c *Container) Share(t testing.TB, hostFile string, mode os.FileMode) string {
	t.Helper()
	data, err := os.ReadFile(hostFile)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Base(hostFile)
	if err := os.WriteFile(filepath.Join(c.ShareDir, name), data, mode); err != nil {
		t.Fatal(err)
	}
	return "/share/" + name
}

// Stop powers the container off (SIGKILL after 15 s), waits for nspawn to
// exit and removes the cgroups. It is idempotent and runs automatically
// at the end of the test that booted the container.
func (c *Container) Stop() {
	c.stop.Do(func() {
		if c.cmd == nil || c.cmd.Process == nil {
			removeCgroups(c.cgroups)
			return
		}
		if c.pid1 > 0 {
			_ = syscall.Kill(c.pid1, sigRTMin4)
		} else {
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
		}
		select {
		case <-c.exited:
		case <-time.After(15 * time.Second):
			killCgroups(c.cgroups)
			_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
			<-c.exited
		}
		removeCgroups(c.cgroups)
	})
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

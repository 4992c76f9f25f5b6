package faults

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"

	"github.com/certagent/certagent/internal/testbin"
)

// busConfig is a private dbus-daemon that lets root own any name; the
// suite points certagent's DBUS_SYSTEM_BUS_ADDRESS at it.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=SOCKET</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`

// fakeSystemd answers the few systemd1 calls certagent's restarter
// makes (a job method, JobRemoved, the unit's properties) for one unit
// that is always active. onJob runs inside the job, before it completes:
// the window between certagent's write and its verdict.
type fakeSystemd struct {
	conn  *dbus.Conn
	unit  string
	onJob func()
	mu    sync.Mutex
	jobs  uint32
	invID byte
}

// startFakeSystemd runs a private bus with a fake service manager on it
// and returns the bus address.
func startFakeSystemd(t *testing.T, unit string, onJob func()) string {
	t.Helper()
	daemon := testbin.NeedTool(t, "dbus-daemon")
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	cfg := filepath.Join(dir, "bus.conf")
	writeFile(t, cfg, []byte(strings.Replace(busConfig, "SOCKET", sock, 1)))
	cmd := exec.Command(daemon, "--config-file="+cfg, "--nofork", "--nopidfile", "--print-address=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	addr = strings.TrimSpace(addr)
	conn, err := dbus.Connect(addr)
	if err != nil {
		t.Fatalf("connect to the private bus: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	f := &fakeSystemd{conn: conn, unit: unit, onJob: onJob, invID: 1}
	manager := map[string]any{}
	for _, m := range []string{"StartUnit", "RestartUnit", "TryRestartUnit", "ReloadUnit", "ReloadOrRestartUnit"} {
		manager[m] = f.job
	}
	if err := conn.ExportMethodTable(manager, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager"); err != nil {
		t.Fatal(err)
	}
	props := map[string]any{"Get": f.get, "GetAll": f.getAll}
	if err := conn.ExportMethodTable(props, dbus.ObjectPath("/org/freedesktop/systemd1/unit/"+sddbus.PathBusEscape(unit)), "org.freedesktop.DBus.Properties"); err != nil {
		t.Fatal(err)
	}
	if reply, err := conn.RequestName("org.freedesktop.systemd1", dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("own org.freedesktop.systemd1 on the private bus: %v (reply %d)", err, reply)
	}
	return addr
}

// job runs onJob, then completes the job: a restart gives a new
// invocation. JobRemoved is sent after the reply, as systemd does.
func (f *fakeSystemd) job(name, mode string) (dbus.ObjectPath, *dbus.Error) {
	f.mu.Lock()
	f.jobs++
	f.invID++
	id := f.jobs
	f.mu.Unlock()
	if f.onJob != nil {
		f.onJob()
	}
	p := dbus.ObjectPath("/org/freedesktop/systemd1/job/" + strconv.Itoa(int(id)))
	go func() {
		_ = f.conn.Emit("/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager.JobRemoved", id, p, name, "done")
	}()
	return p, nil
}

func (f *fakeSystemd) getAll(iface string) (map[string]dbus.Variant, *dbus.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return map[string]dbus.Variant{
		"LoadState":    dbus.MakeVariant("loaded"),
		"ActiveState":  dbus.MakeVariant("active"),
		"SubState":     dbus.MakeVariant("running"),
		"InvocationID": dbus.MakeVariant([]byte{f.invID, 0xce, 0x47}),
		"Result":       dbus.MakeVariant("success"),
	}, nil
}

func (f *fakeSystemd) get(iface, prop string) (dbus.Variant, *dbus.Error) {
	all, _ := f.getAll(iface)
	v, ok := all[prop]
	if !ok {
		return dbus.Variant{}, dbus.NewError("org.freedesktop.DBus.Error.UnknownProperty", []any{prop})
	}
	return v, nil
}

package units

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/test/systemd/nspawn"
)

// Test units, installed into the container. Flag files under /share make
// a unit misbehave on its next start.
var testUnits = map[string]string{
	"ca-sleep.service": "[Service]\nExecStart=/bin/sleep infinity\n",
	"ca-idle.service":  "[Service]\nExecStart=/bin/sleep infinity\n",
	"ca-other.service": "[Service]\nExecStart=/bin/sleep infinity\n",
	"ca-reload.service": "[Service]\nExecStart=/bin/sleep infinity\n" +
		"ExecReload=/bin/sh -c 'echo reloaded >> /share/reloads'\n",
	// Starts fine (the job is "done") but dies at once when /share/crash
	// exists: only the settle check can catch it.
	"ca-crash.service": "[Service]\nExecStart=/bin/sh -c 'test -e /share/crash && exit 3; exec sleep infinity'\n",
	// Fails its start job when /share/failstart exists.
	"ca-failstart.service": "[Service]\nExecStartPre=/bin/sh -c '! test -e /share/failstart'\nExecStart=/bin/sleep infinity\n",
}

// bootWithUnits boots a container, installs testUnits and returns a
// Restarter connected to the container's system bus from the host.
func bootWithUnits(t *testing.T) (*nspawn.Container, *Restarter) {
	t.Helper()
	c := nspawn.Boot(t)
	for name, body := range testUnits {
		c.WriteFile(t, "/etc/systemd/system/"+name, "[Unit]\nDescription=certagent test unit "+name+"\n"+body, 0o644)
	}
	c.Exec(t, "systemctl", "daemon-reload")

	r, err := NewRestarter(context.Background(), hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: testWriter{t}}))
	if err != nil {
		t.Fatal(err)
	}
	r.dial = dialAddress(c.BusAddress())
	t.Cleanup(func() { r.Close() })
	return c, r
}

// dialAddress connects to one specific bus, so parallel tests do not
// fight over DBUS_SYSTEM_BUS_ADDRESS.
func dialAddress(addr string) func(ctx context.Context) (*sddbus.Conn, error) {
	return func(ctx context.Context) (*sddbus.Conn, error) {
		return sddbus.NewConnection(func() (*dbus.Conn, error) {
			conn, err := dbus.Dial(addr, dbus.WithContext(ctx))
			if err != nil {
				return nil, err
			}
			if err := conn.Auth(nil); err != nil {
				conn.Close()
				return nil, err
			}
			if err := conn.Hello(); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		})
	}
}

// show reads a unit property the way an operator would.
func show(t *testing.T, c *nspawn.Container, unit, prop string) string {
	t.Helper()
	return strings.TrimSpace(c.Exec(t, "systemctl", "show", "-p", prop, "--value", unit))
}

func act(t *testing.T, r *Restarter, unit string, a agent.Action, opts agent.ActOptions) (agent.Verdict, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return r.Act(ctx, unit, a, opts)
}

func TestRestarterUnderSystemd(t *testing.T) {
	c, r := bootWithUnits(t)
	c.Exec(t, "systemctl", "start", "ca-sleep", "ca-reload", "ca-crash", "ca-failstart", "ca-other")

	t.Run("restart takes a new invocation", func(t *testing.T) {
		old := show(t, c, "ca-sleep.service", "InvocationID")
		v, err := act(t, r, "ca-sleep.service", agent.ActionRestart, agent.ActOptions{})
		if err != nil {
			t.Fatalf("restart: %v", err)
		}
		now := show(t, c, "ca-sleep.service", "InvocationID")
		if v.Skipped || v.ActiveState != "active" || v.InvocationID != now || now == old || v.Result != "success" {
			t.Fatalf("verdict %+v; systemd says InvocationID %s (was %s)", v, now, old)
		}
	})

	t.Run("bare name means .service, try-restart restarts an active unit", func(t *testing.T) {
		old := show(t, c, "ca-sleep.service", "InvocationID")
		v, err := act(t, r, "ca-sleep", agent.ActionTryRestart, agent.ActOptions{})
		if err != nil || v.InvocationID == old || v.ActiveState != "active" {
			t.Fatalf("try-restart: %+v, %v (old invocation %s)", v, err, old)
		}
	})

	t.Run("reload keeps the invocation and runs ExecReload", func(t *testing.T) {
		old := show(t, c, "ca-reload.service", "InvocationID")
		v, err := act(t, r, "ca-reload.service", agent.ActionReload, agent.ActOptions{})
		if err != nil || v.InvocationID != old || v.ActiveState != "active" {
			t.Fatalf("reload: %+v, %v (invocation before %s)", v, err, old)
		}
		if got := c.Exec(t, "cat", "/share/reloads"); got != "reloaded\n" {
			t.Fatalf("ExecReload ran %q, want one line", got)
		}
	})

	t.Run("reload without ExecReload is an error", func(t *testing.T) {
		_, err := act(t, r, "ca-sleep.service", agent.ActionReload, agent.ActOptions{})
		if err == nil || !strings.Contains(err.Error(), "ca-sleep.service") {
			t.Fatalf("reload of a unit without ExecReload: %v", err)
		}
	})

	t.Run("reload-or-restart without ExecReload restarts", func(t *testing.T) {
		old := show(t, c, "ca-other.service", "InvocationID")
		v, err := act(t, r, "ca-other.service", agent.ActionReloadOrRestart, agent.ActOptions{})
		if err != nil || v.InvocationID == old {
			t.Fatalf("reload-or-restart: %+v, %v", v, err)
		}
	})

	t.Run("unit that dies after restart", func(t *testing.T) {
		c.Exec(t, "touch", "/share/crash")
		v, err := act(t, r, "ca-crash.service", agent.ActionRestart, agent.ActOptions{Settle: 3 * time.Second})
		if err == nil {
			t.Fatalf("restart of a crashing unit succeeded: %+v", v)
		}
		for _, want := range []string{"ca-crash.service", "ActiveState=failed", "Result=exit-code"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		if v.ActiveState != "failed" || v.Result != "exit-code" {
			t.Errorf("verdict %+v, want failed/exit-code", v)
		}
		if got := show(t, c, "ca-crash.service", "ActiveState"); got != "failed" {
			t.Errorf("systemd says ActiveState=%s", got)
		}
	})

	t.Run("unit whose start job fails", func(t *testing.T) {
		c.Exec(t, "touch", "/share/failstart")
		v, err := act(t, r, "ca-failstart.service", agent.ActionRestart, agent.ActOptions{})
		if err == nil || !strings.Contains(err.Error(), `job result "failed"`) ||
			!strings.Contains(err.Error(), "Result=exit-code") || v.ActiveState != "failed" {
			t.Fatalf("restart with failing ExecStartPre: %+v, %v", v, err)
		}
	})

	t.Run("unknown unit", func(t *testing.T) {
		_, err := act(t, r, "no-such-unit.service", agent.ActionRestart, agent.ActOptions{})
		if err == nil || !strings.Contains(err.Error(), "not-found") {
			t.Fatalf("restart of a missing unit: %v", err)
		}
	})

	t.Run("unknown action", func(t *testing.T) {
		_, err := act(t, r, "ca-sleep.service", agent.Action("bounce"), agent.ActOptions{})
		if err == nil || !strings.Contains(err.Error(), `"bounce"`) {
			t.Fatalf("unknown action: %v", err)
		}
	})
}

func TestRestarterInactiveUnits(t *testing.T) {
	c, r := bootWithUnits(t)
	for _, a := range []agent.Action{agent.ActionRestart, agent.ActionReload, agent.ActionTryRestart, agent.ActionReloadOrRestart} {
		v, err := act(t, r, "ca-idle.service", a, agent.ActOptions{})
		if err != nil || !v.Skipped || v.ActiveState != "inactive" {
			t.Fatalf("%s of a stopped unit: %+v, %v; want skipped", a, v, err)
		}
		if got := show(t, c, "ca-idle.service", "ActiveState"); got != "inactive" {
			t.Fatalf("after skipped %s the unit is %s", a, got)
		}
	}
	// try-restart would not start it; StartIfInactive must.
	v, err := act(t, r, "ca-idle.service", agent.ActionTryRestart, agent.ActOptions{StartIfInactive: true})
	if err != nil || v.Skipped || v.ActiveState != "active" || v.InvocationID == "" {
		t.Fatalf("try-restart with StartIfInactive: %+v, %v", v, err)
	}
	if got := show(t, c, "ca-idle.service", "ActiveState"); got != "active" {
		t.Fatalf("systemd says %s", got)
	}
}

func TestRestarterReconnectsAndRunsConcurrently(t *testing.T) {
	c, r := bootWithUnits(t)
	c.Exec(t, "systemctl", "start", "ca-sleep", "ca-other")
	if _, err := act(t, r, "ca-sleep", agent.ActionRestart, agent.ActOptions{}); err != nil {
		t.Fatal(err)
	}
	// Restart the bus itself: the old connection drops.
	c.Exec(t, "systemctl", "restart", "dbus.service")
	deadline := time.Now().Add(10 * time.Second)
	for r.conn.Connected() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if r.conn.Connected() {
		t.Fatal("connection still up after the bus restarted; test cannot exercise reconnect")
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, u := range []string{"ca-sleep.service", "ca-other.service"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = act(t, r, u, agent.ActionRestart, agent.ActOptions{})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("restart after bus restart: %v", err)
		}
	}
}

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

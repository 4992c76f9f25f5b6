package agent

// The daemon's life-cycle edges: the watchdog, configuration reloads and
// the sd_notify seam.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/certagent/certagent/internal/tick"
)

// watchdog pings the service manager only while the scheduler proves it
// still turns (a recent heartbeat during a pass, or waiting for its next
// wake-up between passes), so a wedged scheduler gets the daemon
// restarted.
func (a *Agent) watchdog(ctx context.Context, iv time.Duration) {
	wait := watchdogTicks(ctx, iv)
	for wait() {
		last := time.Unix(0, a.heartbeat.Load())
		if a.waiting.Load() || time.Since(last) <= 2*iv+time.Second {
			a.notifier().Watchdog()
		} else {
			a.log.Warn("scheduler has not turned; withholding watchdog ping", "since", time.Since(last).Round(time.Second))
		}
	}
}

// watchdogTicks returns a function that waits for the next ping time and
// reports false once ctx is done. It prefers internal/tick's timerfd,
// which leaves the runtime's sysmon thread asleep between pings (see
// there), and falls back to a time.Ticker.
func watchdogTicks(ctx context.Context, iv time.Duration) func() bool {
	if tk, err := tick.New(ctx, iv); err == nil {
		return tk.Wait
	}
	t := time.NewTicker(iv)
	return func() bool {
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
			return true
		}
	}
}

// reload re-reads the configuration (SIGHUP, `certagent reload`) and
// returns why it was rejected. A rejection stays in the status line until
// a reload succeeds.
func (a *Agent) reload() error {
	n := a.notifier()
	n.Reloading()
	defer n.Ready()
	if a.opts.Reload == nil {
		a.log.Warn("reload requested but this agent cannot reload", "event", "config_rejected")
		return errors.New("this agent cannot reload its configuration")
	}
	cfg, issuers, err := a.opts.Reload()
	if err != nil {
		a.rejectConfig(err)
		return err
	}
	a.rejected = ""
	a.apply(cfg, issuers)
	a.updateWatches()
	a.log.Info("configuration reloaded", "event", "config_reloaded", "certs", len(cfg.Certs))
	a.notifier().Status(a.statusLine(a.Snapshot(), a.clock.Now()))
	return nil
}

// rejectConfig logs each line of a rejection as its own entry (a journal
// entry with an embedded newline shows as a literal \n) and puts the
// first one in the status line.
func (a *Agent) rejectConfig(err error) {
	lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
	for i, l := range lines {
		a.log.Error("configuration rejected; keeping the running one", "event", "config_rejected",
			"error", l, "problem", fmt.Sprintf("%d/%d", i+1, len(lines)))
	}
	a.emitConfigRejected(strings.Join(lines, "; "))
	a.rejected = fmt.Sprintf("config rejected at %s: %s", a.clock.Now().Local().Format("15:04"), lines[0])
	a.notifier().Status(a.statusLine(a.Snapshot(), a.clock.Now()))
}

func (a *Agent) notifier() Notifier {
	if a.opts.Notifier == nil {
		return nopNotifier{}
	}
	return a.opts.Notifier
}

// metrics returns the configured Metrics, or one that records nothing,
// so callers never check for nil.
func (a *Agent) metrics() Metrics {
	if a.opts.Metrics == nil {
		return nopMetrics{}
	}
	return a.opts.Metrics
}

type nopMetrics struct{}

func (nopMetrics) SetCert(string, time.Time, time.Time, string) {}
func (nopMetrics) DeleteCert(string)                            {}
func (nopMetrics) Renewal(string, string)                       {}
func (nopMetrics) UnitAction(string, string, string)            {}
func (nopMetrics) ExternalChange(string, string)                {}
func (nopMetrics) PassCompleted(time.Time)                      {}
func (nopMetrics) WatchDegraded(bool)                           {}

type nopNotifier struct{}

func (nopNotifier) Ready() error                            { return nil }
func (nopNotifier) Reloading() error                        { return nil }
func (nopNotifier) Stopping() error                         { return nil }
func (nopNotifier) Status(string) error                     { return nil }
func (nopNotifier) Watchdog() error                         { return nil }
func (nopNotifier) WatchdogInterval() (time.Duration, bool) { return 0, false }

// watchDegraded is why the watcher polls instead of using inotify; "" when
// it does not (or there is no watcher: certagent renew).
func (a *Agent) watchDegraded() string {
	if a.opts.Watcher == nil {
		return ""
	}
	return a.opts.Watcher.Degraded()
}

// IdleHooks let the process act on the daemon's busy and idle edges.
// Both run on the Run goroutine, so they never overlap a pass; either may
// be nil.
type IdleHooks struct {
	// Busy runs before each pass.
	Busy func()
	// Idle runs after each pass (and the first READY), before the wait.
	Idle func()
}

func (a *Agent) busy() {
	if f := a.opts.Idle.Busy; f != nil {
		f()
	}
}

func (a *Agent) idle() {
	if f := a.opts.Idle.Idle; f != nil {
		f()
	}
}

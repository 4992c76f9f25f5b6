package agent

// The daemon's life-cycle edges: the watchdog, configuration reloads and
// the sd_notify seam.

import (
	"context"
	"time"
)

// watchdog pings the service manager only while the scheduler proves it
// still turns, so a wedged scheduler gets the daemon restarted.
func (a *Agent) watchdog(ctx context.Context, iv time.Duration) {
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last := time.Unix(0, a.heartbeat.Load())
			if time.Since(last) <= 2*iv+time.Second {
				a.notifier().Watchdog()
			} else {
				a.log.Warn("scheduler has not turned; withholding watchdog ping", "since", time.Since(last).Round(time.Second))
			}
		}
	}
}

func (a *Agent) reload() {
	n := a.notifier()
	n.Reloading()
	defer n.Ready()
	if a.opts.Reload == nil {
		a.log.Warn("reload requested but this agent cannot reload", "event", "config_rejected")
		return
	}
	cfg, issuers, err := a.opts.Reload()
	if err != nil {
		a.log.Error("configuration rejected; keeping the running one", "event", "config_rejected", "error", err)
		return
	}
	a.apply(cfg, issuers)
	a.updateWatches()
	a.log.Info("configuration reloaded", "event", "config_reloaded", "certs", len(cfg.Certs))
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

type nopNotifier struct{}

func (nopNotifier) Ready() error                            { return nil }
func (nopNotifier) Reloading() error                        { return nil }
func (nopNotifier) Stopping() error                         { return nil }
func (nopNotifier) Status(string) error                     { return nil }
func (nopNotifier) Watchdog() error                         { return nil }
func (nopNotifier) WatchdogInterval() (time.Duration, bool) { return 0, false }

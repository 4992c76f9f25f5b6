package agent

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certagent/certagent/watch"
)

// degradedWatcher is a Watcher whose inotify never starts: it reports
// itself degraded once Run has begun, as watch.Watcher does.
type degradedWatcher struct {
	mu     sync.Mutex
	reason string
}

func (w *degradedWatcher) Set(string, []string) {}

func (w *degradedWatcher) Run(ctx context.Context, out chan<- watch.Event) error {
	time.Sleep(time.Second) // after the first pass has published "ok"
	w.mu.Lock()
	w.reason = "inotify unavailable (too many open files), polling every 10s"
	w.mu.Unlock()
	out <- watch.Event{Key: watch.HealthKey}
	<-ctx.Done()
	return nil
}

func (w *degradedWatcher) Degraded() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reason
}

type degradedMetrics struct {
	nopMetrics
	mu       sync.Mutex
	degraded bool
}

func (m *degradedMetrics) WatchDegraded(d bool) { m.mu.Lock(); m.degraded = d; m.mu.Unlock() }

// TestWatchDegradedIsPublished: when the watcher turns degraded after the
// first pass, the daemon publishes it at once (not at its next scheduled
// pass, up to an hour later): status line, status.json and the metric.
func TestWatchDegradedIsPublished(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ta := newTestAgent(t, threeCertsOneUnit)
		n := &statusNotifier{}
		m := &degradedMetrics{}
		ta.opts.Watcher, ta.opts.Notifier, ta.opts.Metrics = &degradedWatcher{}, n, m
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- ta.Run(ctx) }()
		time.Sleep(2 * time.Second)
		synctest.Wait()
		n.mu.Lock()
		last := n.lines[len(n.lines)-1]
		n.mu.Unlock()
		if !strings.Contains(last, "watch degraded: inotify unavailable (too many open files)") {
			t.Errorf("status line %q does not say the watch is degraded", last)
		}
		if r := ta.recordedRow(t, "a"); !strings.Contains(r.WatchDegraded, "too many open files") {
			t.Errorf("status.json row %+v lacks watch_degraded", r)
		}
		m.mu.Lock()
		if !m.degraded {
			t.Error("certagent_watch_degraded not set")
		}
		m.mu.Unlock()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestStatusFromDiskShowsWatchDegraded: `certagent status` shows what the
// daemon recorded about its watcher, for every row.
func TestStatusFromDiskShowsWatchDegraded(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	const why = "inotify unavailable (too many open files), polling every 10s"
	prev := &StatusFile{Version: 1, Certs: []CertStatus{{Name: "a", Serial: "not-on-disk", WatchDegraded: why}}}
	for _, r := range StatusFromDisk(ta.cfg, prev, time.Now()) {
		if r.Name == "a" && r.WatchDegraded != why {
			t.Fatalf("row a: watch_degraded %q, want %q", r.WatchDegraded, why)
		}
	}
}

package agent

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// pingNotifier runs a watchdog of interval iv and counts its pings.
type pingNotifier struct {
	nopNotifier
	iv    time.Duration
	pings atomic.Int64
}

func (n *pingNotifier) Watchdog() error                         { n.pings.Add(1); return nil }
func (n *pingNotifier) WatchdogInterval() (time.Duration, bool) { return n.iv, true }

// TestWatchdogPingsWhileIdle: between passes the scheduler only waits, and
// the watchdog keeps vouching for it, long after the last heartbeat.
func TestWatchdogPingsWhileIdle(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	n := &pingNotifier{iv: 5 * time.Millisecond}
	ta.opts.Notifier = n
	runAgent(t, ta)
	testbin.Eventually(t, 10*time.Second, "the first pass", func() bool { return ta.waiting.Load() })
	// Well beyond 2 intervals + 1 s after the last heartbeat.
	ta.heartbeat.Store(time.Now().Add(-time.Hour).UnixNano())
	from := n.pings.Load()
	testbin.Eventually(t, 10*time.Second, "pings while idle", func() bool { return n.pings.Load() >= from+3 })
}

// TestWatchdogWithheldWhenTheSchedulerIsStuck: outside the wait, a stale
// heartbeat means a wedged scheduler, and the pings stop.
func TestWatchdogWithheldWhenTheSchedulerIsStuck(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	n := &pingNotifier{iv: 5 * time.Millisecond}
	ta.opts.Notifier = n
	ta.heartbeat.Store(time.Now().Add(-time.Hour).UnixNano())
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); ta.watchdog(ctx, n.iv) }()
	testbin.Eventually(t, 10*time.Second, "the withheld-ping warning", func() bool {
		return strings.Contains(ta.logs(), "withholding watchdog ping")
	})
	cancel()
	<-done
	if got := n.pings.Load(); got != 0 {
		t.Errorf("%d pings for a scheduler with an hour-old heartbeat, want 0", got)
	}
}

package notify

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/config"
)

// Delivery results, the result label of Metrics.Notification (the values
// docs/metrics.md lists).
const (
	ResultDelivered  = "delivered"  // the target acknowledged it
	ResultFailed     = "failed"     // one attempt failed; it is retried
	ResultDropped    = "dropped"    // given up: too old, or the target is gone
	ResultSuppressed = "suppressed" // not queued: the daily limit
)

// Limits of delivery, documented in docs/notifications.md.
const (
	// Per is the daily limit: one event of a kind per cert and target.
	Per = 24 * time.Hour
	// MaxAge is how long an unacknowledged event is retried.
	MaxAge     = 7 * 24 * time.Hour
	backoffMin = 30 * time.Second
	backoffMax = time.Hour
)

// Metrics counts deliveries. Implementation: agent/metrics.
type Metrics interface {
	Notification(target, event, result string)
}

// Options configure a Notifier.
type Options struct {
	// Dir keeps the pending deliveries: state_dir/notify.
	Dir     string
	Logger  hclog.Logger
	Metrics Metrics          // nil: not counted
	Now     func() time.Time // nil: time.Now
	// Host fills Event.Host when the emitter left it empty.
	Host string
}

// Notifier queues events durably and delivers them on its own goroutine
// (Run), so a slow or dead target never delays a renewal. Emit and
// Configure may be called from any goroutine.
type Notifier struct {
	opts Options
	q    queue
	log  hclog.Logger
	wake chan struct{}

	mu      sync.Mutex // guards the fields below
	targets map[string]*target
	pending map[string]*pending // by file name
	ledger  map[string]time.Time
	loaded  bool
}

type target struct {
	cfg *config.Notify
	s   sender
}

// New returns a Notifier; it touches no file until Emit or Run.
func New(opts Options) *Notifier {
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Notifier{opts: opts, q: queue{dir: opts.Dir}, log: opts.Logger,
		wake: make(chan struct{}, 1), targets: map[string]*target{}, pending: map[string]*pending{}}
}

// Configure replaces the targets with those of a validated config. A
// target whose transport cannot be built (its ca_bundle became
// unreadable since validation) is logged and left out.
func (n *Notifier) Configure(cfgs map[string]*config.Notify) {
	next := map[string]*target{}
	for name, c := range cfgs {
		s, err := newSender(c)
		if err != nil {
			n.log.Error("notify target unusable", "target", name, "error", err)
			continue
		}
		next[name] = &target{cfg: c, s: s}
	}
	n.mu.Lock()
	n.targets = next
	n.mu.Unlock()
	n.poke()
}

// Emit queues ev for every target subscribed to its kind, at most once
// per target, kind and cert in Per. It writes the queue (a few small
// files) and returns; delivery happens on Run's goroutine.
func (n *Notifier) Emit(ev Event) {
	now := n.opts.Now()
	if ev.Time.IsZero() {
		ev.Time = now
	}
	if ev.Host == "" {
		ev.Host = n.opts.Host
	}
	ev.ID = newID()
	n.mu.Lock()
	defer n.mu.Unlock()
	n.loadLocked()
	queued := false
	for _, name := range slices.Sorted(maps.Keys(n.targets)) {
		t := n.targets[name]
		if !t.wants(ev) {
			continue
		}
		key := name + "\x00" + ev.Kind + "\x00" + ev.Cert
		if last, ok := n.ledger[key]; ok && !last.After(now) && now.Sub(last) < Per {
			n.log.Debug("notification suppressed: one per day", "event", "notify_suppressed", "target", name, "notify_event", ev.Kind, "cert", ev.Cert)
			n.count(name, ev.Kind, ResultSuppressed)
			continue
		}
		p := &pending{Target: name, Event: ev, NextAt: now}
		if err := n.q.put(p); err != nil {
			// Still try to deliver it; it is only not restart-proof.
			n.log.Error("cannot keep notification in the state dir", "target", name, "notify_event", ev.Kind, "error", err)
		}
		n.pending[p.file()] = p
		n.ledger[key] = now
		queued = true
	}
	if !queued {
		return
	}
	n.pruneLedger(now)
	if err := n.q.saveLedger(n.ledger); err != nil {
		n.log.Error("cannot record notification time", "error", err)
	}
	n.poke()
}

func (t *target) wants(ev Event) bool {
	if !slices.Contains(t.cfg.Events, ev.Kind) {
		return false
	}
	return ev.Kind != "renewal_failed" || ev.Failures >= t.cfg.FailureThreshold
}

// Run delivers pending events, first those a previous run left, until
// ctx ends. Deliveries run one at a time on the calling goroutine, so
// Run returns only once the last one has stopped.
func (n *Notifier) Run(ctx context.Context) error {
	for {
		next := n.flush(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			timer = time.NewTimer(max(next.Sub(n.opts.Now()), 0))
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-n.wake:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

func (n *Notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *Notifier) count(target, event, result string) {
	if n.opts.Metrics != nil {
		n.opts.Metrics.Notification(target, event, result)
	}
}

// loadLocked reads the queue and the ledger once; n.mu is held.
func (n *Notifier) loadLocked() {
	if n.loaded {
		return
	}
	n.loaded = true
	ps, errs := n.q.load()
	for _, err := range errs {
		n.log.Error("cannot read pending notification; left in place", "error", err)
	}
	now := n.opts.Now()
	for _, p := range ps {
		// A new run tries at once: whatever failed may have been fixed
		// along with the restart, and a restart loop is bounded by the
		// service manager's own limits.
		p.NextAt = now
		n.pending[p.file()] = p
	}
	if len(ps) > 0 {
		n.log.Info("notifications pending from an earlier run", "count", len(ps))
	}
	n.ledger = n.q.loadLedger()
}

func (n *Notifier) pruneLedger(now time.Time) {
	for k, t := range n.ledger {
		if now.Sub(t) >= Per || t.After(now) {
			delete(n.ledger, k)
		}
	}
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/watch"
)

// Notifier tells the service manager about the daemon's life cycle
// (sd_notify). Implementation: units.Notifier. All methods are cheap and
// never fail visibly.
type Notifier interface {
	Ready() error
	Reloading() error
	Stopping() error
	Status(line string) error
	Watchdog() error
	// WatchdogInterval is how often Watchdog must be called; false when
	// the service manager runs no watchdog.
	WatchdogInterval() (time.Duration, bool)
}

// Metrics records what the agent does. Implementation: agent/metrics.
//
// ExternalChange's kind is one of the Change constants.
type Metrics interface {
	SetCert(cert string, notAfter, nextRenewal time.Time, state string)
	DeleteCert(cert string)
	Renewal(cert, result string)
	UnitAction(unit, action, result string)
	ExternalChange(cert, kind string)
	PassCompleted(t time.Time)
	// WatchDegraded records whether file changes are found by polling
	// because inotify is unavailable.
	WatchDegraded(degraded bool)
}

// Kinds of change made to a cert's files by something other than
// certagent, as passed to Metrics.ExternalChange (the kind label values
// docs/metrics.md lists).
const (
	ChangeDeleted     = "deleted"
	ChangeModified    = "modified"
	ChangePermissions = "permissions"
	ChangeReplaced    = "replaced"
)

// Watcher reports changes to files on disk. Implementation: watch.Watcher.
// Contract: Set may be called while Run is active; Run owns its goroutines
// and returns only after they exit. When it cannot use inotify, Run polls
// and retries on its own; Degraded then says why ("" otherwise), and an
// Event with Key watch.HealthKey announces each change of Degraded.
type Watcher interface {
	Set(key string, paths []string)
	Run(ctx context.Context, out chan<- watch.Event) error
	Degraded() string
}

// Reloader builds a new configuration and its issuers, for SIGHUP. It
// must validate fully and return an error, changing nothing, when the new
// configuration is bad.
type Reloader func() (*config.Config, map[string]Issuer, error)

// Options are the parts cmd/certagent wires into an Agent.
type Options struct {
	Config  *config.Config
	Issuers map[string]Issuer
	Store   *store.Store
	// Restarter acts on units; nil leaves units alone and logs it.
	Restarter Restarter
	Notifier  Notifier  // nil: no sd_notify
	Metrics   Metrics   // nil: no metrics
	Events    EventSink // nil: no notifications
	Watcher   Watcher   // nil: no file watching
	Clock     Clock     // nil: SystemClock
	Logger    hclog.Logger
	Reload    Reloader // nil: SIGHUP is refused with a log line
	// Idle, if set, brackets the daemon's passes: Busy before each and
	// Idle after (cmd/certagent uses it to stop the collector while
	// nothing runs; see lifecycle.go).
	Idle IdleHooks
}

// Agent is the certificate daemon's domain core. Construct with New; Run
// starts it. Its fields are owned by the Run goroutine unless noted.
type Agent struct {
	opts    Options
	cfg     *config.Config
	issuers map[string]Issuer
	store   *store.Store
	clock   Clock
	log     hclog.Logger

	certs   map[string]*certState
	watches map[string]*watchState
	// icache is the inspection cache (statecache.go), loaded on first use.
	icache *inspectCache
	// watchKeys are the keys last given to the Watcher.
	watchKeys map[string]bool

	// seed is what the previous daemon recorded in status.json, applied
	// once per cert by inspect when the serial on disk is the same, so a
	// restart neither forgets a failure's backoff nor re-deploys a cert
	// that was rolled back.
	seed map[string]CertStatus

	// rotations is what the last pass saw of each local CA rotation.
	rotations map[string]*rotationState
	// spreadSeed is the per-install seed of the renewal and retry jitter
	// (loadSpreadSeed); nil until the first pass.
	spreadSeed []byte
	// lastStatus describes the status.json this agent last wrote: a
	// different file found there was written by a one-shot
	// `certagent renew`.
	lastStatus os.FileInfo

	reloadCh chan struct{}
	// rejected is the status line's "config rejected at HH:MM: …" prefix
	// after a rejected reload; "" once a reload succeeds.
	rejected string
	// requests carries operator requests (RenewNow, ReloadNow) to Run.
	requests chan *request
	// pendingRetry is when the next pass runs to retry unit actions the
	// service manager could not take (D-Bus down); zero when none wait.
	// pendingTries counts the consecutive passes that found it unreachable.
	pendingRetry time.Time
	pendingTries int
	// heartbeat is the unix-nano time the scheduler last proved alive;
	// the watchdog goroutine reads it.
	heartbeat atomic.Int64
	// waiting is true while the scheduler loop waits for its timer, an
	// event or a request, all of which it answers at once: the watchdog
	// vouches for it then without a heartbeat, so an idle daemon's only
	// timer wake-up per ping is the watchdog's own.
	waiting atomic.Bool
	// mu guards snap, the status rows the Run goroutine last shared for
	// Snapshot, which other goroutines may call.
	mu   sync.Mutex
	snap []sharedRow
	// shared is closed once the first rows are shared: a status request
	// that arrives before then waits for them (see Shared).
	shared     chan struct{}
	sharedOnce sync.Once
	// rootsMu serializes the issuances' writes of learned roots
	// (recordIssuer), so one that finds them already kept knows the
	// write that put them there is complete, directory fsync included.
	// rootsKept holds, per issuer, the roots this pass found or put in
	// issuer-roots/ (issueAll empties it), so the file is read once a
	// pass rather than once a cert.
	rootsMu   sync.Mutex
	rootsKept map[string][]byte
}

// New builds an Agent. It starts nothing and touches no files.
func New(opts Options) (*Agent, error) {
	if opts.Config == nil || opts.Store == nil {
		return nil, errors.New("agent: config and store are required")
	}
	if opts.Clock == nil {
		opts.Clock = SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	a := &Agent{
		shared:   make(chan struct{}),
		opts:     opts,
		store:    opts.Store,
		clock:    opts.Clock,
		log:      opts.Logger,
		certs:    map[string]*certState{},
		reloadCh: make(chan struct{}, 1),
		requests: make(chan *request),
	}
	a.apply(opts.Config, opts.Issuers)
	return a, nil
}

// Reload asks the running agent to reload its configuration. It never
// blocks; reloads requested while one is pending coalesce.
func (a *Agent) Reload() {
	select {
	case a.reloadCh <- struct{}{}:
	default:
	}
}

// apply swaps in a validated configuration, keeping the runtime state
// (failures, backoff, warnings) of certs that still exist.
func (a *Agent) apply(cfg *config.Config, issuers map[string]Issuer) {
	cfg.ForgetSources() // kept for the agent's lifetime; only loading names lines
	next := map[string]*certState{}
	for _, name := range cfg.CertNames() {
		c := cfg.Certs[name]
		st := a.certs[name]
		if st == nil {
			st = &certState{name: name}
		}
		st.cfg = c
		// The files, SANs or issuer may have changed: look again. The
		// watcher reports no event for a path that is merely re-registered.
		st.inspected, st.settleUntil = time.Time{}, time.Time{}
		next[name] = st
	}
	for name := range a.certs {
		if next[name] == nil {
			a.metrics().DeleteCert(name)
		}
	}
	a.certs = next
	watches := map[string]*watchState{}
	for _, name := range cfg.WatchNames() {
		ws := a.watches[name]
		if ws == nil || !sameWatch(ws.cfg, cfg.Watch[name]) {
			ws = &watchState{name: name}
		}
		ws.cfg = cfg.Watch[name]
		watches[name] = ws
	}
	a.watches = watches
	a.cfg = cfg
	a.issuers = issuers
	a.configureEvents(cfg)
	a.allowRecovery(cfg)
}

// Run is the daemon: it recovers the state directory, then passes over
// every cert whenever one is due, a watched file changes, the backstop
// interval elapses or a reload is asked for. It returns nil when ctx is
// cancelled, after every goroutine it started has exited.
func (a *Agent) Run(ctx context.Context) error {
	if err := a.recover(ctx); err != nil {
		return err
	}
	a.loadSeed()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	events := make(chan watch.Event, 64)
	if a.opts.Watcher != nil {
		a.updateWatches()
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := a.opts.Watcher.Run(ctx, events); err != nil && ctx.Err() == nil {
				a.log.Error("file watcher stopped", "error", err)
			}
		}()
	}
	a.beat()
	if iv, ok := a.notifier().WatchdogInterval(); ok {
		wg.Add(1)
		go func() { defer wg.Done(); a.watchdog(ctx, iv) }()
	}
	err := a.loop(ctx, events)
	a.notifier().Stopping()
	cancel()
	wg.Wait()
	return err
}

// recover completes or discards what a crash interrupted.
func (a *Agent) recover(ctx context.Context) error {
	release, err := a.store.Lock(ctx)
	if err != nil {
		return fmt.Errorf("lock state dir: %w", err)
	}
	defer release()
	rep, err := a.store.Recover(allowedFor(a.cfg))
	a.allowRecovery(a.cfg) // Recover keeps the set it was given
	a.reinspect(rep.Reinspect)
	if err != nil {
		// Everything recoverable was recovered; what is left (e.g. an
		// output dir that is read-only right now) is retried by the next
		// commit of that cert, so the daemon keeps running.
		a.log.Error("state dir recovery incomplete; will retry on the next write", "error", err)
	}
	if !rep.Empty() {
		a.log.Info("recovered from an interrupted run", "rolled_forward", strings.Join(rep.RolledForward, ","),
			"discarded", strings.Join(rep.Discarded, ","), "temps_removed", len(rep.TempsRemoved),
			"staging_removed", len(rep.StagingRemoved), "quarantined", strings.Join(rep.Quarantined, ","),
			"refused", strings.Join(rep.Refused, ","))
	}
	failpoint.Hit("agent-after-recover")
	return nil
}

func (a *Agent) loop(ctx context.Context, events <-chan watch.Event) error {
	ready := false
	dirty := map[string]bool{}
	for {
		a.busy()
		next := a.pass(ctx, passOptions{dirty: dirty})
		dirty = map[string]bool{}
		a.idle()
		if ctx.Err() != nil {
			return nil
		}
		if !ready {
			a.notifier().Ready()
			ready = true
		}
		timer := time.NewTimer(a.sleepFor(next))
		a.beat()
		a.waiting.Store(true)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
				break wait
			case ev := <-events:
				if ev.Key == watch.HealthKey {
					timer.Stop()
					break wait // publish the watcher's new state
				}
				dirty[ev.Key] = true
				a.noteExternal(ev)
				timer.Stop()
				break wait
			case <-a.reloadCh:
				a.waiting.Store(false)
				a.busy()
				_ = a.reload() // logged; SIGHUP has no one to answer
				timer.Stop()
				break wait
			case r := <-a.requests:
				a.waiting.Store(false)
				a.busy()
				r.done <- r.run(ctx)
				timer.Stop()
				break wait
			}
		}
		a.waiting.Store(false)
	}
}

// minPassGap is the shortest wait between timer-driven passes: whatever a
// planning bug might compute, the scheduler cannot spin. Work due now is
// done by the pass that just ran; file events still wake it at once.
const minPassGap = time.Second

// sleepFor is how long the loop waits for next: capped at MaxSleep so the
// wall clock is re-read after a suspend, and at least minPassGap.
func (a *Agent) sleepFor(next time.Time) time.Duration {
	if d := Sleep(a.clock.Now(), next); d > minPassGap {
		return d
	}
	return minPassGap
}

func (a *Agent) beat() { a.heartbeat.Store(time.Now().UnixNano()) }

// Package units makes certagent a systemd citizen: it acts on the units
// that use a certificate over D-Bus (Restarter), talks sd_notify to the
// service manager (Notifier) and logs natively to journald (NewLogger).
//
// Nothing here execs systemctl; everything goes through
// github.com/coreos/go-systemd/v22.
package units

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
)

// Defaults for a unit action.
const (
	// DefaultJobTimeout bounds the wait for systemd's JobRemoved signal
	// when the caller's ctx has no earlier deadline. systemd's own start
	// timeout (90 s by default) normally ends the job long before.
	DefaultJobTimeout = 5 * time.Minute
)

// Restarter carries out unit actions through systemd's D-Bus API and
// judges the result. It implements agent.Restarter.
//
// It connects to the system bus lazily, on the first Act, so that
// constructing it never fails on a host without a bus (e.g. `certagent
// check`), and it reconnects transparently when the connection dropped
// (dbus-daemon restarted). It is safe for concurrent use.
type Restarter struct {
	log hclog.Logger

	// JobTimeout bounds the wait for a job's result; zero means
	// DefaultJobTimeout.
	JobTimeout time.Duration
	// Poll is the interval between property reads while waiting for a
	// unit to settle; zero means 100 ms.
	Poll time.Duration

	// life bounds every connection: go-systemd closes a connection when
	// the context it was dialled with ends, so a per-Act ctx must not be
	// used for dialling.
	life context.Context
	dial func(ctx context.Context) (*sddbus.Conn, error)

	mu   sync.Mutex
	conn *sddbus.Conn
}

var _ agent.Restarter = (*Restarter)(nil)

// NewRestarter returns a Restarter talking to the system bus
// (DBUS_SYSTEM_BUS_ADDRESS, default /run/dbus/system_bus_socket). It does
// not connect yet; see Restarter. ctx bounds the lifetime of the bus
// connections it will make: pass the daemon's root context, not a
// per-request one. The error is always nil today; it is there so an eager
// mode can report a missing bus.
func NewRestarter(ctx context.Context, logger hclog.Logger) (*Restarter, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	return &Restarter{
		log:  logger,
		life: ctx,
		dial: sddbus.NewSystemConnectionContext,
	}, nil
}

// Close drops the bus connection, if any. The Restarter may be used again
// afterwards; it then reconnects.
func (r *Restarter) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil {
		r.conn.Close()
		r.conn = nil
	}
	return nil
}

// bus returns a live connection, dialling a new one when there is none or
// the old one dropped.
func (r *Restarter) bus(ctx context.Context) (*sddbus.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn != nil && r.conn.Connected() {
		return r.conn, nil
	}
	if r.conn != nil {
		r.log.Warn("system bus connection lost, reconnecting")
		r.conn.Close()
		r.conn = nil
	}
	c, err := r.dial(r.life)
	if err != nil {
		return nil, fmt.Errorf("connect to the system bus: %w: %w", agent.ErrUnavailable, err)
	}
	r.conn = c
	return c, nil
}

// Act performs action on unit and returns systemd's verdict.
//
// A unit whose ActiveState is not active, activating or reloading is left
// alone (Verdict.Skipped) unless opts.StartIfInactive; then it is started
// (whatever the action, because reload and try-restart would not start
// it). Otherwise the matching Manager method is called with mode
// "replace" and the job result is awaited: anything but "done" is an
// error. The unit must then be active within opts.Settle and stay active
// with the same invocation for a short stability window (see stableFor),
// so that a service that dies right after a successful start is caught.
// A restart must also yield a new InvocationID. Errors name the unit, its
// ActiveState and Result.
//
// A unit name without a type suffix gets ".service".
func (r *Restarter) Act(ctx context.Context, unit string, action agent.Action, opts agent.ActOptions) (agent.Verdict, error) {
	unit = normalizeUnit(unit)
	settle := opts.Settle
	if settle <= 0 {
		settle = config.DefaultSettle // a caller other than the agent, which always sets it
	}
	log := r.log.With("unit", unit, "action", string(action))

	conn, err := r.bus(ctx)
	if err != nil {
		return agent.Verdict{}, err
	}
	before, err := readState(ctx, conn, unit)
	if err != nil {
		// Reading a unit's properties fails only when the manager does
		// not answer; the agent keeps the action pending.
		return agent.Verdict{}, fmt.Errorf("%w: %w", agent.ErrUnavailable, err)
	}
	if before.LoadState != "loaded" {
		return before.verdict(), fmt.Errorf("unit %s: load state %q (does the unit exist?)", unit, before.LoadState)
	}

	method, newInvocation, err := pickMethod(conn, action, before.running())
	if err != nil {
		return agent.Verdict{}, err
	}
	if !before.running() {
		if !opts.StartIfInactive {
			log.Debug("unit not active, leaving it alone", "active_state", before.ActiveState)
			v := before.verdict()
			v.Skipped = true
			return v, nil
		}
		method, newInvocation = conn.StartUnitContext, true
	}

	if err := r.runJob(ctx, method, unit); err != nil {
		after, _ := readState(context.WithoutCancel(ctx), conn, unit)
		return after.verdict(), fmt.Errorf("unit %s: %s: %w (%s)", unit, action, err, after.describe())
	}
	after, err := r.settle(ctx, conn, unit, before, newInvocation, settle)
	if err != nil {
		return after.verdict(), err
	}
	log.Debug("unit action done", "invocation_id", after.InvocationID)
	return after.verdict(), nil
}

// jobMethod is the shape of go-systemd's job-starting methods.
type jobMethod func(ctx context.Context, name, mode string, ch chan<- string) (int, error)

// pickMethod maps an action to a Manager method and says whether the
// action must yield a new invocation when the unit was running.
func pickMethod(c *sddbus.Conn, a agent.Action, running bool) (jobMethod, bool, error) {
	switch a {
	case agent.ActionRestart:
		return c.RestartUnitContext, true, nil
	case agent.ActionTryRestart:
		return c.TryRestartUnitContext, running, nil
	case agent.ActionReload:
		return c.ReloadUnitContext, false, nil
	case agent.ActionReloadOrRestart:
		// Whether systemd reloads or restarts depends on the unit having
		// ExecReload=; either way the unit must end up active.
		return c.ReloadOrRestartUnitContext, false, nil
	default:
		return nil, false, fmt.Errorf("unknown unit action %q (want restart, reload, try-restart or reload-or-restart)", a)
	}
}

// runJob enqueues a job and waits for its result.
func (r *Restarter) runJob(ctx context.Context, method jobMethod, unit string) error {
	timeout := r.JobTimeout
	if timeout <= 0 {
		timeout = DefaultJobTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	// Buffered: go-systemd's signal dispatcher blocks on this send, and
	// we may have stopped listening after a timeout.
	ch := make(chan string, 1)
	if _, err := method(ctx, unit, "replace", ch); err != nil {
		return fmt.Errorf("enqueue job: %w", err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return fmt.Errorf("job result %q", res)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the job result: %w", ctx.Err())
	}
}

// stableFor is how long a unit must stay active with one invocation before
// the verdict is ok: a Type=simple service counts as started as soon as it
// forked, so a crash in its first moments would otherwise go unnoticed.
func stableFor(settle time.Duration) time.Duration {
	return min(time.Second, settle/4)
}

// settle polls the unit until it is active (with a new invocation when
// required) and has stayed so for stableFor(settle), or settle elapses.
func (r *Restarter) settle(ctx context.Context, c *sddbus.Conn, unit string, before unitState, newInvocation bool, settle time.Duration) (unitState, error) {
	poll := r.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	deadline := time.Now().Add(settle)
	stable := stableFor(settle)
	var (
		cur       unitState
		goodSince time.Time
		goodID    string
	)
	for {
		var err error
		cur, err = readState(ctx, c, unit)
		if err != nil {
			return cur, err
		}
		ok := cur.ActiveState == "active" &&
			(!newInvocation || cur.InvocationID != before.InvocationID)
		switch {
		case !ok:
			goodSince = time.Time{}
		case goodSince.IsZero() || cur.InvocationID != goodID:
			goodSince, goodID = time.Now(), cur.InvocationID
		}
		if ok && time.Since(goodSince) >= stable {
			return cur, nil
		}
		if time.Now().After(deadline) {
			why := "not active"
			if cur.ActiveState == "active" && newInvocation && cur.InvocationID == before.InvocationID {
				why = "still on the old invocation " + before.InvocationID
			} else if cur.ActiveState == "active" {
				why = "did not stay active"
			}
			return cur, fmt.Errorf("unit %s %s within %s (%s)", unit, why, settle, cur.describe())
		}
		select {
		case <-ctx.Done():
			return cur, fmt.Errorf("unit %s: waiting to settle: %w (%s)", unit, ctx.Err(), cur.describe())
		case <-time.After(poll):
		}
	}
}

// normalizeUnit appends ".service" to a bare name, as systemctl does.
func normalizeUnit(unit string) string {
	for _, suf := range []string{".service", ".socket", ".target", ".timer", ".mount", ".path", ".slice", ".scope", ".swap", ".device", ".automount"} {
		if strings.HasSuffix(unit, suf) {
			return unit
		}
	}
	return unit + ".service"
}

var errNoProperty = errors.New("property missing")

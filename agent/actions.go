package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/internal/trust"
)

// actionExec marks a pending hook run in the intent journal.
const actionExec = "exec"

// actionRank orders unit actions by strength: when certs of one unit ask
// for different actions in the same pass, the strongest one is done once.
var actionRank = map[string]int{
	string(ActionReload): 1, string(ActionTryRestart): 2,
	string(ActionReloadOrRestart): 3, string(ActionRestart): 4,
}

// unitWork is one unit's pending action and the certs that caused it.
type unitWork struct {
	unit    string
	action  string
	certs   []string
	intents []store.Intent
}

// deliver carries out every pending unit action (one per unit, after all
// writes of the pass) and then the hooks. Actions that could not reach
// the service manager stay pending for the next pass.
func (a *Agent) deliver(ctx context.Context) {
	intents, err := a.store.PendingIntents()
	if err != nil {
		a.log.Error("cannot read pending unit actions", "error", err)
		return
	}
	if len(intents) == 0 {
		a.pendingRetry, a.pendingTries = time.Time{}, 0
		return
	}
	failpoint.Hit("agent-before-actions")
	var order []string
	units := map[string]*unitWork{}
	var hooks []store.Intent
	for _, in := range intents {
		if in.Action == actionExec {
			hooks = append(hooks, in)
			continue
		}
		w := units[in.Unit]
		if w == nil {
			w = &unitWork{unit: in.Unit, action: in.Action}
			units[in.Unit] = w
			order = append(order, in.Unit)
		}
		if actionRank[in.Action] > actionRank[w.action] {
			w.action = in.Action
		}
		if !contains(w.certs, in.Cert) {
			w.certs = append(w.certs, in.Cert)
		}
		w.intents = append(w.intents, in)
	}
	unreachable := false
	for _, u := range order {
		if a.actOnUnit(ctx, units[u]) {
			unreachable = true
		}
	}
	refused := false
	for _, h := range hooks {
		if a.runHook(ctx, h) {
			refused = true
		}
	}
	a.schedulePendingRetry(unreachable, refused)
}

// Retry interval for unit actions kept pending because the service
// manager was unreachable: it doubles from pendingRetryMin up to
// pendingRetryMax, so a restarted dbus-daemon is noticed within seconds
// and a long outage costs a connection attempt every few minutes.
const (
	pendingRetryMin = 5 * time.Second
	pendingRetryMax = 5 * time.Minute
)

// schedulePendingRetry makes the daemon run another pass soon when unit
// actions stay pending for want of a service manager, or hooks stay
// pending because their files failed the trust check; without it they
// would wait for the next renewal or backstop pass (up to MaxSleep).
func (a *Agent) schedulePendingRetry(unreachable, hooksRefused bool) {
	if !unreachable && !hooksRefused {
		a.pendingRetry, a.pendingTries = time.Time{}, 0
		return
	}
	a.pendingTries++
	d := pendingRetryMin
	for i := 1; i < a.pendingTries && d < pendingRetryMax; i++ {
		d *= 2
	}
	a.pendingRetry = a.clock.Now().Add(min(d, pendingRetryMax))
	if unreachable {
		a.log.Info("unit actions pending; retrying when the service manager is reachable",
			"retry_at", stamp(a.pendingRetry), "attempts", a.pendingTries)
	}
	if hooksRefused {
		a.log.Info("hooks pending; retrying once their files pass the trust check",
			"retry_at", stamp(a.pendingRetry), "attempts", a.pendingTries)
	}
}

// actOnUnit performs one unit action and judges it; on failure it rolls
// back the certs that asked for it. It reports whether the action stays
// pending because the service manager could not be reached.
func (a *Agent) actOnUnit(ctx context.Context, w *unitWork) (unreachable bool) {
	log := a.unitLog(w)
	if a.opts.Restarter == nil {
		log.Warn("no service manager connection; unit action stays pending")
		return false
	}
	opts := a.actOptions(w.certs)
	v, err := a.opts.Restarter.Act(ctx, w.unit, Action(w.action), opts)
	switch {
	case errors.Is(err, ErrUnavailable):
		log.Warn("service manager unreachable; unit action stays pending", "error", err)
		a.countUnit(w, "pending")
		return true
	case err != nil:
		log.Error("unit failed after action", "event", "unit_failed", "error", err,
			"active_state", v.ActiveState, "result", v.Result)
		a.countUnit(w, "failure")
		a.rollback(ctx, w, opts, err)
	case v.Skipped:
		log.Info("unit not active; left alone", "event", "unit_action", "verdict", "skipped", "active_state", v.ActiveState)
		a.countUnit(w, "skipped")
	default:
		log.Info("unit action done", "event", "unit_action", "verdict", "ok",
			"active_state", v.ActiveState, "invocation_id", v.InvocationID)
		a.countUnit(w, "success")
		a.removeKeysAfterStart(w, v) // remove_key_after_start (agent/removekey.go)
	}
	for _, in := range w.intents {
		if err := a.store.DoneIntent(in); err != nil {
			log.Error("cannot clear delivered unit action", "error", err)
		}
	}
	return false
}

// unitLog logs a unit's verdict once per cert that caused the action, with
// the cert as its own field, so `journalctl CERTAGENT_CERT=det
// CERTAGENT_EVENT=unit_action` finds it; watch-only actions log once.
func (a *Agent) unitLog(w *unitWork) hclog.Logger {
	base := a.log.With("unit", w.unit, "action", w.action)
	if len(w.certs) <= 1 {
		if len(w.certs) == 1 {
			base = base.With("cert", w.certs[0])
		}
		return base
	}
	return &fanLogger{Logger: base, certs: w.certs}
}

// fanLogger repeats each entry once per cert; used for the few verdict
// lines of a unit shared by several certs.
type fanLogger struct {
	hclog.Logger
	certs []string
}

func (f *fanLogger) Log(level hclog.Level, msg string, args ...interface{}) {
	for _, c := range f.certs {
		f.Logger.Log(level, msg, append([]interface{}{"cert", c}, args...)...)
	}
}

func (f *fanLogger) Info(msg string, args ...interface{})  { f.Log(hclog.Info, msg, args...) }
func (f *fanLogger) Warn(msg string, args ...interface{})  { f.Log(hclog.Warn, msg, args...) }
func (f *fanLogger) Error(msg string, args ...interface{}) { f.Log(hclog.Error, msg, args...) }
func (f *fanLogger) Debug(msg string, args ...interface{}) { f.Log(hclog.Debug, msg, args...) }

func (a *Agent) actOptions(certs []string) ActOptions {
	var opts ActOptions
	for _, name := range certs {
		st := a.certs[name]
		if st == nil {
			continue
		}
		opts.StartIfInactive = opts.StartIfInactive || st.cfg.StartIfInactive
		if s := st.cfg.Settle.Duration; s > opts.Settle {
			opts.Settle = s
		}
	}
	if opts.Settle <= 0 {
		opts.Settle = config.DefaultSettle
	}
	return opts
}

// rollback restores the previous pair of every cert of the unit that has
// rollback = true, acts on the unit again and backs the cert off, so the
// same deployment is not retried until a new cert has been issued.
func (a *Agent) rollback(ctx context.Context, w *unitWork, opts ActOptions, cause error) {
	var rolled []*certState
	now := a.clock.Now()
	for _, name := range w.certs {
		st := a.certs[name]
		if st == nil || !st.cfg.Rollback {
			continue
		}
		log := a.log.With("cert", name, "unit", w.unit)
		if _, err := a.store.Restore(name, nil); err != nil {
			log.Error("cannot roll back to the previous files", "error", err)
			continue
		}
		rolled = append(rolled, st)
		// Describe the restored pair from now on: status.json must carry
		// its serial, since `certagent status` shows a recorded failure
		// only for the serial on disk. The next pass re-checks the issuer.
		a.inspect(st, nil, now)
		// The failure is about the restored cert, now on disk.
		st.recordFailure(fmt.Sprintf("rolled back: %s failed with the new certificate: %v", w.unit, cause))
		st.retryAt = now.Add(a.backoff(st, now))
		st.inspected = time.Time{}
		log.Warn("previous certificate restored", "event", "rollback", "error", cause, "retry_at", stamp(st.retryAt))
		// on_failure and rolled_back (stagehooks.go), once the unit runs
		// on the restored files: a hook must not delay that restart.
		defer a.afterRollback(ctx, st)
	}
	if len(rolled) == 0 {
		return
	}
	// The failed action left the unit failed or inactive, and the
	// Restarter leaves such a unit alone unless told to start it: the
	// rollback must bring it back, since it was running (or was to be
	// started) before the action.
	opts.StartIfInactive = true
	v, err := a.opts.Restarter.Act(ctx, w.unit, Action(w.action), opts)
	log := a.unitLog(w) // per cert, like the first verdict
	if err != nil {
		// Not the certificate's fault: say so, and do not let the
		// recorded error blame the new certificate.
		msg := fmt.Sprintf("%s fails with the previous certificate as well; the new certificate is not the cause", w.unit)
		for _, st := range rolled {
			st.lastErr = fmt.Sprintf("%s: %v", msg, err)
		}
		log.Error(msg, "event", "unit_failed",
			"error", err, "active_state", v.ActiveState, "result", v.Result)
		return
	}
	log.Info("unit active again on the previous certificate", "event", "unit_action",
		"verdict", "ok", "active_state", v.ActiveState, "invocation_id", v.InvocationID)
}

func (a *Agent) countUnit(w *unitWork, result string) {
	a.metrics().UnitAction(w.unit, w.action, result)
}

// runHook executes a cert's exec hook without a shell, with a timeout,
// logging its output; its exit code is the verdict. Right before the run
// the hook's files are checked again (trust.CheckCommand, as at load):
// a program, link target or script may have changed since the config was
// loaded. A hook that fails is not run and stays pending (refused is
// true), like a unit action that cannot reach the service manager.
func (a *Agent) runHook(ctx context.Context, in store.Intent) (refused bool) {
	argv, timeout, env := a.hookCommand(in)
	if len(argv) > 0 {
		if err := trust.CheckCommand(argv); err != nil {
			a.log.Error("hook not run: its files fail the trust check; it stays pending",
				"cert", in.Cert, "event", "hook", "command", argv[0], "error", err)
			return true
		}
		a.runExec(ctx, in.Cert, argv, timeout, env)
	}
	if err := a.store.DoneIntent(in); err != nil {
		a.log.Error("cannot clear delivered hook", "cert", in.Cert, "error", err)
	}
	return false
}

// hookCommand is the hook a pending intent runs, from the current
// config; nil when the cert or watch entry no longer has one.
func (a *Agent) hookCommand(in store.Intent) ([]string, time.Duration, []string) {
	if name, ok := strings.CutPrefix(in.Cert, watchKeyPrefix); ok {
		if ws := a.watches[name]; ws != nil && len(ws.cfg.Exec) > 0 {
			return ws.cfg.Exec, ws.cfg.ExecTimeout.Duration, watchEnv(ws.cfg)
		}
		return nil, 0, nil
	}
	if st := a.certs[in.Cert]; st != nil && len(st.cfg.Exec) > 0 {
		return st.cfg.Exec, st.cfg.ExecTimeout.Duration, hookEnv(st.cfg)
	}
	return nil, 0, nil
}

// runExec runs argv with env, no shell, bounded by timeout.
func (a *Agent) runExec(ctx context.Context, name string, argv []string, timeout time.Duration, env []string) {
	text, code, err := runHookCommand(ctx, argv, timeout, env)
	log := a.log.With("cert", name, "event", "hook", "command", argv[0])
	if err != nil {
		log.Error("hook failed", "error", err, "exit_code", code, "output", text)
		return
	}
	log.Info("hook done", "exit_code", 0, "output", text)
}

func hookEnv(c *config.Cert) []string {
	domains := append(append([]string(nil), c.DNSNames...), c.IPAddresses...)
	return []string{
		"PATH=" + trust.HookPATH, // the PATH CheckCommand resolves `env` programs in
		"CERTAGENT_CERT_NAME=" + c.Name,
		"CERTAGENT_CERT_FILE=" + c.CertFile,
		"CERTAGENT_KEY_FILE=" + c.KeyFile,
		"CERTAGENT_FULLCHAIN_FILE=" + c.FullchainFile,
		"CERTAGENT_CA_FILE=" + c.CAFile,
		"CERTAGENT_DOMAINS=" + strings.Join(domains, ","),
		"LANG=" + os.Getenv("LANG"),
	}
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

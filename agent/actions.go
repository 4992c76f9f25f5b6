package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/failpoint"
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
	for _, h := range hooks {
		a.runHook(ctx, h)
	}
	a.schedulePendingRetry(unreachable)
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
// actions stay pending for want of a service manager; without it they
// would wait for the next renewal or backstop pass (up to MaxSleep).
func (a *Agent) schedulePendingRetry(unreachable bool) {
	if !unreachable {
		a.pendingRetry, a.pendingTries = time.Time{}, 0
		return
	}
	a.pendingTries++
	d := pendingRetryMin
	for i := 1; i < a.pendingTries && d < pendingRetryMax; i++ {
		d *= 2
	}
	a.pendingRetry = a.clock.Now().Add(min(d, pendingRetryMax))
	a.log.Info("unit actions pending; retrying when the service manager is reachable",
		"retry_at", stamp(a.pendingRetry), "attempts", a.pendingTries)
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
	rolled := 0
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
		rolled++
		// Describe the restored pair from now on: status.json must carry
		// its serial, since `certagent status` shows a recorded failure
		// only for the serial on disk. The next pass re-checks the issuer.
		a.inspect(st, nil, now)
		st.failures++
		st.failedSerial = serialHex(st.leaf) // the restored cert
		st.retryAt = now.Add(a.backoff(st, now))
		st.lastErr = fmt.Sprintf("rolled back: %s failed with the new certificate: %v", w.unit, cause)
		st.inspected = time.Time{}
		log.Warn("previous certificate restored", "event", "rollback", "error", cause, "retry_at", stamp(st.retryAt))
	}
	if rolled == 0 {
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
		log.Error("unit still failing after rollback", "event", "unit_failed",
			"error", err, "active_state", v.ActiveState, "result", v.Result)
		return
	}
	log.Info("unit active again on the previous certificate", "event", "unit_action",
		"verdict", "ok", "active_state", v.ActiveState, "invocation_id", v.InvocationID)
}

func (a *Agent) countUnit(w *unitWork, result string) {
	if m := a.opts.Metrics; m != nil {
		m.UnitAction(w.unit, w.action, result)
	}
}

// runHook executes a cert's exec hook without a shell, with a timeout,
// logging its output; its exit code is the verdict.
func (a *Agent) runHook(ctx context.Context, in store.Intent) {
	defer func() {
		if err := a.store.DoneIntent(in); err != nil {
			a.log.Error("cannot clear delivered hook", "cert", in.Cert, "error", err)
		}
	}()
	if name, ok := strings.CutPrefix(in.Cert, watchKeyPrefix); ok {
		if ws := a.watches[name]; ws != nil && len(ws.cfg.Exec) > 0 {
			a.runExec(ctx, in.Cert, ws.cfg.Exec, ws.cfg.ExecTimeout.Duration, watchEnv(ws.cfg))
		}
		return
	}
	st := a.certs[in.Cert]
	if st == nil || len(st.cfg.Exec) == 0 {
		return
	}
	a.runExec(ctx, st.name, st.cfg.Exec, st.cfg.ExecTimeout.Duration, hookEnv(st.cfg))
}

// runExec runs argv with env, no shell, bounded by timeout.
func (a *Agent) runExec(ctx context.Context, name string, argv []string, timeout time.Duration, env []string) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(hctx, argv[0], argv[1:]...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	log := a.log.With("cert", name, "event", "hook", "command", argv[0])
	text := strings.TrimSpace(limit(out.String(), 8192))
	if err != nil {
		log.Error("hook failed", "error", err, "exit_code", cmd.ProcessState.ExitCode(), "output", text)
		return
	}
	log.Info("hook done", "exit_code", 0, "output", text)
}

func hookEnv(c *config.Cert) []string {
	domains := append(append([]string(nil), c.DNSNames...), c.IPAddresses...)
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"CERTAGENT_CERT_NAME=" + c.Name,
		"CERTAGENT_CERT_FILE=" + c.CertFile,
		"CERTAGENT_KEY_FILE=" + c.KeyFile,
		"CERTAGENT_FULLCHAIN_FILE=" + c.FullchainFile,
		"CERTAGENT_CA_FILE=" + c.CAFile,
		"CERTAGENT_DOMAINS=" + strings.Join(domains, ","),
		"LANG=" + os.Getenv("LANG"),
	}
}

func limit(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

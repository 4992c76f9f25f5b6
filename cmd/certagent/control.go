package main

// The control socket, both ends: the daemon serves it (serveControl), and
// renew, revoke, status and reload ask it (askDaemon) before working in-process.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/control"
)

// controlHandler runs control requests on the agent.
type controlHandler struct{ a *agent.Agent }

// Handle implements control.Handler.
func (h controlHandler) Handle(ctx context.Context, req control.Request) (any, error) {
	switch req.Op {
	case control.OpRenew:
		err := h.a.RenewNow(ctx, req.Names, req.Force)
		if errors.Is(err, agent.ErrNoSuchCert) {
			return nil, control.Usage(err)
		}
		return nil, err
	case control.OpRevoke:
		return nil, h.revoke(ctx, req)
	case control.OpStatus:
		// A request that comes in while the first pass runs would
		// otherwise get no rows at all.
		select {
		case <-h.a.Shared():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return h.a.Snapshot(), nil
	case control.OpReload:
		return nil, h.a.ReloadNow(ctx)
	}
	return nil, control.Usage(fmt.Errorf("unknown op %q", req.Op))
}

// revoke runs an OpRevoke: one name, a reason the client checked already
// (checked again: the client may be another build).
func (h controlHandler) revoke(ctx context.Context, req control.Request) error {
	if len(req.Names) != 1 {
		return control.Usage(errors.New("revoke takes exactly one cert name"))
	}
	reason := agent.ReasonUnspecified
	if req.Reason != "" {
		r, err := agent.ParseReason(req.Reason)
		if err != nil {
			return control.Usage(err)
		}
		reason = r
	}
	err := h.a.RevokeNow(ctx, req.Names[0], agent.RevokeOptions{Reason: reason, NoReissue: req.NoReissue})
	if errors.Is(err, agent.ErrNoSuchCert) {
		return control.Usage(err)
	}
	return err
}

// serveControl listens on path and serves a until ctx is done, in a
// goroutine wg waits for. A socket it cannot bind is logged: the daemon
// renews without it, and the commands work in-process.
func serveControl(ctx context.Context, wg *sync.WaitGroup, path, stateDir string, a *agent.Agent, logger hclog.InterceptLogger) {
	ln, err := control.Listen(path)
	if err != nil {
		logger.Error("control socket unavailable; renew, revoke, status and reload run in-process", "error", err)
		return
	}
	srv := control.NewServer(controlHandler{a}, logger, stateDir)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := srv.Serve(ctx, ln); err != nil {
			logger.Error("control socket stopped", "error", err)
		}
	}()
}

// askDaemon sends req to the daemon at path, copying its log records to
// stderr when logs is set, and prints a failed verdict's error. The error
// is noDaemon when no daemon for this configuration runs (the caller then
// works in-process), or says why the exchange failed.
func askDaemon(ctx context.Context, env *cmdEnv, path string, req control.Request, logs bool) (control.Reply, error) {
	var onLog func(control.Message)
	if logs {
		onLog = func(m control.Message) { printRecord(env.stderr, m) }
	}
	rep, err := control.Do(ctx, path, req, onLog)
	if errors.Is(err, control.ErrNoDaemon) || errors.Is(err, control.ErrOtherDaemon) {
		return rep, fmt.Errorf("%w: %w", errNoDaemon, err)
	}
	if err == nil && rep.Exit == exitUsage && strings.HasPrefix(rep.Error, fmt.Sprintf("unknown op %q", req.Op)) {
		// A daemon from before this op (not restarted after an upgrade):
		// the command works in-process beside it, as it did then.
		return rep, fmt.Errorf("%w: the running daemon predates %q", errNoDaemon, req.Op)
	}
	if err == nil && rep.Exit != exitOK && rep.Error != "" {
		printErrorLines(env.stderr, req.Op, rep.Error)
	}
	return rep, err
}

// errNoDaemon: no daemon for this configuration answers on the socket.
var errNoDaemon = errors.New("no daemon")

// exchangeFailed reports a failed exchange with the daemon.
func exchangeFailed(env *cmdEnv, op string, err error) int {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(env.stderr, "certagent: %s: interrupted; the daemon completes a request it has taken (see journalctl -u certagent)\n", op)
		return exitFailure
	}
	fmt.Fprintf(env.stderr, "certagent: %s: %v (--local works without the daemon)\n", op, err)
	return exitFailure
}

// printErrorLines prints a (possibly multi-line) error one line each, the
// first one first, so the first problem is what a log tail shows at once.
func printErrorLines(w io.Writer, op, msg string) {
	lines := strings.Split(strings.TrimSpace(msg), "\n")
	fmt.Fprintf(w, "certagent: %s: %s\n", op, lines[0])
	for _, l := range lines[1:] {
		fmt.Fprintf(w, "certagent: %s: also: %s\n", op, l)
	}
}

// printRecord renders a streamed log record like hclog's text format.
func printRecord(w io.Writer, m control.Message) {
	var b strings.Builder
	b.WriteString(m.Time.Local().Format("2006-01-02T15:04:05.000Z0700"))
	fmt.Fprintf(&b, " %-7s ", "["+strings.ToUpper(m.Level)+"]")
	if m.Logger != "" {
		b.WriteString(m.Logger + ": ")
	}
	b.WriteString(m.Msg)
	if len(m.Fields) > 0 {
		b.WriteString(":")
	}
	for _, f := range m.Fields {
		v := f.V
		if v == "" || strings.ContainsAny(v, " \t\n\"") {
			v = strconv.Quote(v)
		}
		b.WriteString(" " + f.K + "=" + v)
	}
	fmt.Fprintln(w, b.String())
}

// cmdReload asks the running daemon to re-read its configuration and
// exits with its verdict: ExecReload, so `systemctl reload` fails when the
// configuration is rejected.
func cmdReload(ctx context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fl := newFlags(env, "reload", &cfgPath)
	socket := fl.String("socket", "", "control socket `path` (default: [agent] control_socket, or "+defaultSocket+" when the configuration does not load)")
	if code, ok := parse(fl, args, env); !ok {
		return code
	}
	path := *socket
	if path == "" {
		// The configuration on disk may be the broken one being reloaded:
		// take its control_socket from the [agent] table alone, or if that
		// does not load, from as far as the whole load got (Load returns
		// what it merged), else the default. The daemon's verdict names
		// the problems either way.
		path = defaultSocket
		if a, err := loadAgent(cfgPath); err == nil {
			path = a.ControlSocket
		} else if cfg, _ := loadConfig(cfgPath); cfg != nil && filepath.IsAbs(cfg.Agent.ControlSocket) {
			path = cfg.Agent.ControlSocket
		}
	}
	rep, err := askDaemon(ctx, env, path, control.Request{Op: control.OpReload}, false)
	if err != nil {
		fmt.Fprintf(env.stderr, "certagent: reload: %v\n", err)
		return exitFailure
	}
	return rep.Exit
}

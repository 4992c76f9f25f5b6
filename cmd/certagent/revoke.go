package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/control"
)

// cmdRevoke revokes one cert with its issuer and, unless --no-reissue,
// issues and deploys its replacement; 1 when the CA refused or the
// replacement failed. A running daemon for this configuration does it
// (over the control socket, its log lines streamed here) unless --local.
func cmdRevoke(ctx context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fl := newFlags(env, "revoke", &cfgPath)
	reason := fl.String("reason", "unspecified", "RFC 5280 reason: "+strings.Join(agent.ReasonNames(), ", "))
	noReissue := fl.Bool("no-reissue", false, "keep the revoked files in place (state revoked) instead of deploying a new pair")
	local := fl.Bool("local", false, "revoke in this process even when the daemon runs")
	if code, ok := parse(fl, args, env); !ok {
		return code
	}
	// NAME may come before the options: parse what follows it too.
	rest := fl.Args()
	if len(rest) > 1 {
		if code, ok := parse(fl, rest[1:], env); !ok {
			return code
		}
		rest = append([]string{rest[0]}, fl.Args()...)
	}
	if len(rest) != 1 {
		fmt.Fprintln(env.stderr, "certagent: revoke takes exactly one cert NAME")
		return exitUsage
	}
	r, err := agent.ParseReason(*reason)
	if err != nil {
		fmt.Fprintf(env.stderr, "certagent: %v\n", err)
		return exitUsage
	}
	name := rest[0]
	var t daemonTarget
	if !*local {
		// The daemon checks the name against its own configuration.
		var ok bool
		if t, ok = env.target(cfgPath); !ok {
			return exitUsage
		}
		req := control.Request{Op: control.OpRevoke, Names: []string{name}, Reason: r.String(), NoReissue: *noReissue,
			StateDir: t.stateDir}
		rep, err := askDaemon(ctx, env, t.socket, req, true)
		switch {
		case err == nil:
			return rep.Exit
		case !errors.Is(err, errNoDaemon):
			return exchangeFailed(env, "revoke", err)
		}
	}
	oneShotCollector()
	cfg, ok := t.config(env, cfgPath)
	if !ok {
		return exitUsage
	}
	if cfg.Certs[name] == nil {
		fmt.Fprintf(env.stderr, "certagent: no cert named %q in %s (known: %s)\n", name, cfgPath, strings.Join(cfg.CertNames(), ", "))
		return exitUsage
	}
	a, done, code := oneShotAgent(ctx, cfg, env)
	if a == nil {
		return code
	}
	defer done()
	if err := a.RevokeOnce(ctx, name, agent.RevokeOptions{Reason: r, NoReissue: *noReissue}); err != nil {
		fmt.Fprintf(env.stderr, "certagent: revoke: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// oneShotAgent wires an agent for a command that runs one operation and
// exits (renew, revoke). On failure it has logged why and a is nil.
func oneShotAgent(ctx context.Context, cfg *config.Config, env *cmdEnv) (a *agent.Agent, done func(), code int) {
	p, code := wire(ctx, cfg, env.stderr)
	if p == nil {
		return nil, nil, code
	}
	a, err := agent.New(agent.Options{Config: cfg, Issuers: p.issuers, Store: p.store, Restarter: p.restarter, Logger: p.logger})
	if err != nil {
		p.restarter.Close()
		p.logger.Error("cannot start", "error", err)
		return nil, nil, exitFailure
	}
	return a, func() { p.restarter.Close() }, exitOK
}

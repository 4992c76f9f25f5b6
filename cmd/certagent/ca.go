package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/control"
)

// cmdCA is `certagent ca rotate [--config FILE] ISSUER`: it starts the
// rotation of a local CA (docs/local-ca.md) and publishes both roots in
// every ca_file of the issuer; 1 when that failed.
func cmdCA(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(env.stderr, "certagent: usage: certagent ca rotate [--config FILE] ISSUER")
		return exitUsage
	}
	var cfgPath string
	fl := newFlags(env, "ca rotate", &cfgPath)
	if code, ok := parse(fl, args[1:], env); !ok {
		return code
	}
	rest := fl.Args()
	if len(rest) > 1 { // ISSUER may come before the options
		if code, ok := parse(fl, rest[1:], env); !ok {
			return code
		}
		rest = append([]string{rest[0]}, fl.Args()...)
	}
	if len(rest) != 1 {
		fmt.Fprintln(env.stderr, "certagent: ca rotate takes exactly one ISSUER")
		return exitUsage
	}
	cfg, ok := env.load(cfgPath)
	if !ok {
		return exitUsage
	}
	issuer := rest[0]
	if ic := cfg.Issuers[issuer]; ic == nil || ic.Type != "local" {
		fmt.Fprintf(env.stderr, "certagent: %q is not a local issuer in %s; only a local CA can be rotated\n", issuer, cfgPath)
		return exitUsage
	}
	a, done, code := oneShotAgent(ctx, cfg, env)
	if a == nil {
		return code
	}
	defer done()
	rec, started, err := a.RotateCA(ctx, issuer)
	if rec != nil {
		verb := "started"
		if !started {
			verb = "already under way"
		}
		fmt.Fprintf(env.stdout, "ca rotation of %s %s: phase %s, old ca serial %s, new ca serial %s, overlap %s\n",
			issuer, verb, rec.Phase, rec.OldSerial, rec.NewSerial, agent.HumanDuration(rec.Overlap.Duration().Round(time.Second)))
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "certagent: ca rotate: %v\n", err)
		return exitFailure
	}
	// A running daemon carries the rotation on: a pass now makes it see
	// the phase (and plan the re-issues and the end of the overlap)
	// instead of at its next wake-up, up to an hour away.
	req := control.Request{Op: control.OpRenew, StateDir: cfg.Agent.StateDir}
	if _, err := askDaemon(ctx, env, cfg.Agent.ControlSocket, req, false); err != nil && !errors.Is(err, errNoDaemon) {
		fmt.Fprintf(env.stderr, "certagent: ca rotate: the rotation is under way, but the daemon did not take it up now (%v); it will at its next pass\n", err)
	}
	return exitOK
}

// printRotations adds one line per local CA being rotated below the
// status table: its phase, when the overlap ends and how many of its
// certs still have a leaf from the old CA.
func printRotations(env *cmdEnv, rows []agent.CertStatus) {
	type sum struct {
		r         *agent.CARotationStatus
		oldLeaves int
	}
	byIssuer := map[string]*sum{}
	var order []string
	for _, row := range rows {
		if row.CARotation == nil {
			continue
		}
		s := byIssuer[row.Issuer]
		if s == nil {
			s = &sum{r: row.CARotation}
			byIssuer[row.Issuer] = s
			order = append(order, row.Issuer)
		}
		if row.CARotation.LeafFrom == "old" {
			s.oldLeaves++
		}
	}
	for _, iss := range order {
		s := byIssuer[iss]
		if s.r.Error != "" {
			fmt.Fprintf(env.stdout, "ca rotation of %s: phase %s, cannot go on: %s\n", iss, s.r.Phase, s.r.Error)
			continue
		}
		ends := "once every ca_file has both roots"
		if !s.r.OverlapEnds.IsZero() {
			ends = s.r.OverlapEnds.Local().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(env.stdout, "ca rotation of %s: phase %s, new ca serial %s, %d cert(s) still from the old ca, overlap ends %s\n",
			iss, s.r.Phase, s.r.NewSerial, s.oldLeaves, ends)
	}
}

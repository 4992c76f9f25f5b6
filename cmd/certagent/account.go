package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/acme"
	"github.com/certagent/certagent/agent/store"
)

// rolloverTimeout bounds one account key rollover (directory, nonce,
// registration check and the keyChange POST).
const rolloverTimeout = 2 * time.Minute

// cmdAccount manages ACME accounts; its one subcommand is rollover.
func cmdAccount(ctx context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fl := newFlags(env, "account", &cfgPath)
	if code, ok := parse(fl, args, env); !ok {
		return code
	}
	rest := fl.Args()
	if len(rest) >= 1 && rest[0] == "rollover" {
		// Flags may also follow the subcommand.
		if code, ok := parse(fl, rest[1:], env); !ok {
			return code
		}
		rest = append([]string{"rollover"}, fl.Args()...)
	}
	if len(rest) != 2 || rest[0] != "rollover" {
		fmt.Fprintln(env.stderr, "usage: certagent account [--config FILE] rollover ISSUER")
		return exitUsage
	}
	cfg, ok := env.load(cfgPath)
	if !ok {
		return exitUsage
	}
	name := rest[1]
	ic := cfg.Issuers[name]
	if ic == nil || ic.Type != "acme" {
		var acmeNames []string
		for n, c := range cfg.Issuers {
			if c.Type == "acme" {
				acmeNames = append(acmeNames, n)
			}
		}
		fmt.Fprintf(env.stderr, "certagent: no ACME issuer named %q in %s (ACME issuers: %s)\n",
			name, cfgPath, strings.Join(acmeNames, ", "))
		return exitUsage
	}
	logger := newLogger(cfg, env.stderr)
	acme.Init(logger)
	if _, err := store.Open(cfg.Agent.StateDir, logger); err != nil {
		logger.Error("cannot open the state dir", "error", err)
		return exitFailure
	}
	iss, err := acme.New(name, ic, filepath.Join(cfg.Agent.StateDir, "acme", name), logger.Named("acme").With("issuer", name))
	if err != nil {
		fmt.Fprintf(env.stderr, "certagent: issuer %q: %v\n", name, err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, rolloverTimeout)
	defer cancel()
	uri, err := iss.RolloverAccountKey(ctx)
	if err != nil {
		fmt.Fprintf(env.stderr, "certagent: account key rollover for issuer %q failed: %v\n", name, err)
		return exitFailure
	}
	fmt.Fprintf(env.stdout, "issuer %q: account %s now uses a new key; the CA refuses the old one\n", name, uri)
	return exitOK
}

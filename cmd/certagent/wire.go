package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/acme"
	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/agent/stepca"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/units"
)

const defaultConfigPath = config.DefaultPath

// loadConfig runs the whole config pipeline; errors are *config.Errors.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, config.Options{KnownDNSProvider: acme.KnownDNSProvider})
}

// load runs the config pipeline, printing the errors (one per line) on
// failure; the caller then exits with exitUsage.
func (env *cmdEnv) load(path string) (*config.Config, bool) {
	cfg, err := loadConfig(path)
	if err != nil {
		fmt.Fprintf(env.stderr, "certagent: configuration rejected:\n%v\n", err)
		return nil, false
	}
	return cfg, true
}

// parts are what the commands that write files share.
type parts struct {
	logger    hclog.Logger
	store     *store.Store
	issuers   map[string]agent.Issuer
	restarter *units.Restarter
}

// wire builds the logger, store, issuers and restarter for cfg. On
// failure it has logged why and returns the exit code. ctx must live as
// long as the restarter (go-systemd ties the bus connection to it).
func wire(ctx context.Context, cfg *config.Config, stderr io.Writer) (*parts, int) {
	disableCoreDumps()
	p := &parts{logger: newLogger(cfg, stderr)}
	acme.Init(p.logger)
	var err error
	if p.store, err = store.Open(cfg.Agent.StateDir, p.logger); err != nil {
		p.logger.Error("cannot open the state dir", "error", err)
		return nil, exitFailure
	}
	if p.issuers, err = buildIssuers(cfg, p.logger); err != nil {
		p.logger.Error("cannot set up issuers", "error", err)
		return nil, exitUsage
	}
	if p.restarter, err = units.NewRestarter(ctx, p.logger.Named("units")); err != nil {
		p.logger.Error("cannot set up unit actions", "error", err)
		return nil, exitFailure
	}
	return p, exitOK
}

// disableCoreDumps keeps private keys out of core files.
func disableCoreDumps() {
	_ = syscall.Setrlimit(syscall.RLIMIT_CORE, &syscall.Rlimit{})
}

// newLogger builds the root logger from the [agent] settings.
func newLogger(cfg *config.Config, out io.Writer) hclog.Logger {
	level := hclog.LevelFromString(cfg.Agent.LogLevel)
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return units.NewLogger(units.LoggerOptions{Level: level, Format: cfg.Agent.LogFormat, Output: out})
}

// buildIssuers constructs one issuer per [issuers.NAME]; nothing starts
// and nothing touches the network.
func buildIssuers(cfg *config.Config, logger hclog.Logger) (map[string]agent.Issuer, error) {
	out := map[string]agent.Issuer{}
	for name, ic := range cfg.Issuers {
		switch ic.Type {
		case "local":
			out[name] = localca.New(name, filepath.Join(cfg.Agent.StateDir, "ca", name), ic)
		case "acme":
			iss, err := acme.New(name, ic, filepath.Join(cfg.Agent.StateDir, "acme", name),
				logger.Named("acme").With("issuer", name))
			if err != nil {
				return nil, fmt.Errorf("issuer %q: %w", name, err)
			}
			out[name] = iss
		case "step":
			iss, err := stepca.New(name, filepath.Join(cfg.Agent.StateDir, "step", name), ic,
				logger.Named("step").With("issuer", name))
			if err != nil {
				return nil, fmt.Errorf("issuer %q: %w", name, err)
			}
			out[name] = iss
		default:
			return nil, fmt.Errorf("issuer %q: unknown type %q", name, ic.Type)
		}
	}
	return out, nil
}

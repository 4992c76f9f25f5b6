package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/acme"
	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/units"
)

const defaultConfigPath = config.DefaultPath

// loadConfig runs the whole config pipeline; errors are *config.Errors.
func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, config.Options{KnownDNSProvider: acme.KnownDNSProvider})
}

// printConfigErrors writes one line per problem.
func printConfigErrors(w io.Writer, err error) {
	fmt.Fprintf(w, "certagent: configuration rejected:\n%v\n", err)
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
		default:
			return nil, fmt.Errorf("issuer %q: unknown type %q", name, ic.Type)
		}
	}
	return out, nil
}

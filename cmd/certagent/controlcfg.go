package main

import (
	"github.com/certagent/certagent/acme"
	"github.com/certagent/certagent/agent/config"
)

// daemonTarget is what a control command needs to reach the daemon.
type daemonTarget struct {
	socket, stateDir string
	// cfg is the whole configuration when it had to be loaded (the
	// [agent] table alone did not load); nil otherwise.
	cfg *config.Config
}

// loadAgent loads the [agent] table alone, as loadConfig loads the whole.
func loadAgent(path string) (*config.Agent, error) {
	return config.LoadAgent(path, config.Options{KnownDNSProvider: acme.KnownDNSProvider})
}

// target finds the daemon of the configuration at path from its [agent]
// table alone (config.LoadAgent): decoding and validating 10,000 certs
// only to find a socket cost a 10,000-cert `renew` 0.3 s of CPU, and the
// daemon checks the request against its own configuration anyway. When
// that table does not load, the whole configuration is loaded so that
// its errors are printed in full; ok is then false if it is rejected.
func (env *cmdEnv) target(path string) (t daemonTarget, ok bool) {
	if a, err := loadAgent(path); err == nil {
		return daemonTarget{socket: a.ControlSocket, stateDir: a.StateDir}, true
	}
	cfg, ok := env.load(path)
	if !ok {
		return daemonTarget{}, false
	}
	return daemonTarget{socket: cfg.Agent.ControlSocket, stateDir: cfg.Agent.StateDir, cfg: cfg}, true
}

// config returns the whole configuration, loading it unless target had
// to; ok is false (the errors printed) if it is rejected.
func (t daemonTarget) config(env *cmdEnv, path string) (*config.Config, bool) {
	if t.cfg != nil {
		return t.cfg, true
	}
	return env.load(path)
}

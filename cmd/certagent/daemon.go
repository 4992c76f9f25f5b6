package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/metrics"
	"github.com/certagent/certagent/agent/notify"
	"github.com/certagent/certagent/units"
	"github.com/certagent/certagent/watch"
)

// cmdRun is the daemon. It returns 0 after a clean stop on SIGTERM or
// SIGINT, 2 for a bad configuration and 1 for a runtime failure.
func cmdRun(ctx context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fs := newFlags(env, "run", &cfgPath)
	if code, ok := parse(fs, args, env); !ok {
		return code
	}
	idle := idleCollector() // before the load: start-up's collector setting
	cfg, ok := env.load(cfgPath)
	if !ok {
		return exitUsage
	}
	p, code := wire(ctx, cfg, env.stderr)
	if p == nil {
		return code
	}
	defer p.restarter.Close()
	logger := p.logger

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	opts := agent.Options{
		Config: cfg, Issuers: p.issuers, Store: p.store, Restarter: p.restarter,
		Notifier: units.NewNotifier(),
		Watcher:  watch.New(logger.Named("watch"), 0),
		Logger:   logger,
		Reload:   reloader(cfgPath, cfg, logger),
		Idle:     idle,
	}
	if cfg.Agent.MetricsListen != "" {
		m := metrics.New()
		opts.Metrics = m
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Serve(ctx, cfg.Agent.MetricsListen, cfg.Agent.MetricsAllowRemote, logger.Named("metrics")); err != nil && ctx.Err() == nil {
				logger.Error("metrics endpoint stopped", "error", err)
			}
		}()
	}
	notifier := newNotifier(cfg, opts.Metrics, logger)
	opts.Events = notifier
	a, err := agent.New(opts) // configures the notifier's targets
	if err != nil {
		logger.Error("cannot start", "error", err)
		return exitFailure
	}
	wg.Add(2)
	go func() { defer wg.Done(); _ = notifier.Run(ctx) }()
	go func() { defer wg.Done(); forwardSIGHUP(ctx, a) }()
	serveControl(ctx, &wg, cfg.Agent.ControlSocket, cfg.Agent.StateDir, a, logger)
	logger.Info("certagent started", "version", version, "config", cfgPath, "certs", len(cfg.Certs), "state_dir", cfg.Agent.StateDir)
	if err := a.Run(ctx); err != nil {
		logger.Error("agent stopped", "error", err)
		return exitFailure
	}
	logger.Info("certagent stopped")
	return exitOK
}

// newNotifier builds the notification queue in state_dir/notify; it
// delivers on its own goroutine, which cmdRun owns.
func newNotifier(cfg *config.Config, m agent.Metrics, logger hclog.Logger) *notify.Notifier {
	host, _ := os.Hostname()
	opts := notify.Options{Dir: filepath.Join(cfg.Agent.StateDir, "notify"), Logger: logger.Named("notify"), Host: host}
	if nm, ok := m.(notify.Metrics); ok {
		opts.Metrics = nm
	}
	return notify.New(opts)
}

// forwardSIGHUP turns SIGHUP into agent reloads until ctx is done.
func forwardSIGHUP(ctx context.Context, a *agent.Agent) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			a.Reload()
		}
	}
}

// reloader re-reads the configuration for SIGHUP. Settings that cannot
// change under a running daemon are refused with a clear error.
func reloader(path string, running *config.Config, logger hclog.Logger) agent.Reloader {
	return func() (*config.Config, map[string]agent.Issuer, error) {
		cfg, err := loadConfig(path)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Agent.StateDir != running.Agent.StateDir {
			return nil, nil, fmt.Errorf("[agent] state_dir changed from %s to %s: this needs a restart (systemctl restart certagent)",
				running.Agent.StateDir, cfg.Agent.StateDir)
		}
		if cfg.Agent.ControlSocket != running.Agent.ControlSocket {
			return nil, nil, fmt.Errorf("[agent] control_socket changed from %s to %s: this needs a restart (systemctl restart certagent)",
				running.Agent.ControlSocket, cfg.Agent.ControlSocket)
		}
		issuers, err := buildIssuers(cfg, logger)
		if err != nil {
			return nil, nil, err
		}
		return cfg, issuers, nil
	}
}

// startGCPercent is the collector's setting from exec to the end of the
// first pass. Start-up allocates a lot that lives briefly (the decoded
// TOML of every cert, the inspection of every pair) over a live heap that
// only grows, so at the default 100 the collector ran about as often as
// the heap doubled: 17% of the CPU to READY at 10,000 certs. At 200 the
// heap may reach three times what is live instead of two, for that
// while only; the first Idle collects it and returns it to the kernel.
const startGCPercent = 200

// oneShotCollector sets startGCPercent for the rest of a one-shot
// command that works in-process (renew, revoke, status without a
// daemon): it loads the whole configuration and makes one pass, which
// allocate as start-up does, and it exits after. An operator's GOGC or
// GOMEMLIMIT wins.
func oneShotCollector() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(startGCPercent)
	}
}

// idleHeadroom is what the process may allocate while idle (control
// requests, metrics scrapes) before the memory limit makes the collector
// run once.
const idleHeadroom = 8 << 20

// idleCollector keeps the Go collector out of the daemon's idle time.
// After a pass there is nothing to collect until the next one, yet the
// runtime would force a collection every 2 minutes and its scavenger
// would then wake for a while: on an idle host that was all of
// certagent's CPU and wake-ups. So after each pass the garbage is
// collected and returned to the kernel at once (debug.FreeOSMemory), and
// the periodic collector is turned off (GC percent -1) under a memory
// limit of what is in use then plus idleHeadroom, the safety net for what
// runs between passes. Before the next pass the usual setting is back.
// Start-up (the config load and the first pass, up to READY) runs at
// startGCPercent from the call until the first Idle.
// GOGC or GOMEMLIMIT in the environment means the operator chose: then
// nothing is changed.
func idleCollector() agent.IdleHooks {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return agent.IdleHooks{}
	}
	const noLimit = math.MaxInt64
	debug.SetGCPercent(startGCPercent)
	started := false // Busy and Idle run on the agent's loop goroutine
	return agent.IdleHooks{
		Busy: func() {
			if !started {
				return // the first pass is part of start-up
			}
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(noLimit)
		},
		Idle: func() {
			started = true
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			debug.SetMemoryLimit(int64(ms.Sys-ms.HeapReleased) + idleHeadroom)
			debug.SetGCPercent(-1)
		},
	}
}

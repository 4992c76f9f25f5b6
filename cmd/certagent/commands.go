package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/control"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/agent/pki"
)

// cmdCheck validates the configuration; with --files also the files on disk.
func cmdCheck(_ context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fl := newFlags(env, "check", &cfgPath)
	files := fl.Bool("files", false, "also check the cert and key files already on disk")
	explain := fl.Bool("explain", false, "print what each cert's preset set and requires")
	if code, ok := parse(fl, args, env); !ok {
		return code
	}
	cfg, ok := env.load(cfgPath)
	if !ok {
		return exitUsage
	}
	fmt.Fprintf(env.stdout, "configuration ok: %d certs, %d issuers, %d watched (%s)\n",
		len(cfg.Certs), len(cfg.Issuers), len(cfg.Watch), strings.Join(cfg.Files, ", "))
	if *explain { // issue 6: presets are never hidden behaviour
		fmt.Fprintln(env.stdout, strings.Join(config.Explain(cfg), "\n"))
	}
	// Warnings only: the unit may change before the daemon runs.
	for _, w := range sandboxWarnings(cfg, loadSandbox()) {
		fmt.Fprintln(env.stdout, w)
	}
	if !*files {
		return exitOK
	}
	problems := checkFiles(cfg, time.Now())
	for _, p := range problems {
		fmt.Fprintln(env.stdout, p)
	}
	if len(problems) > 0 {
		return exitFailure
	}
	fmt.Fprintln(env.stdout, "files ok")
	return exitOK
}

// checkFiles applies the shared validation rules to every cert on disk,
// returning one line per problem. Local CA roots are read only if the CA
// already exists: check never creates anything.
func checkFiles(cfg *config.Config, now time.Time) []string {
	var out []string
	for _, name := range cfg.CertNames() {
		c := cfg.Certs[name]
		exp := pki.Expect{DNSNames: c.DNSNames, IPs: c.IPs, KeyType: pki.KeyType(c.KeyType),
			MinRSABits: cfg.Agent.MinRSABits, Roots: listRoots(cfg, c)}
		rep, _ := agent.InspectCert(cfg.Agent.StateDir, c, exp, now)
		for _, p := range rep.Problems {
			out = append(out, problemLine("cert", name, p, c.CertFile))
		}
	}
	for _, name := range cfg.WatchNames() {
		w := cfg.Watch[name]
		rep := pki.Inspect(w.CertFile, w.KeyFile, pki.Expect{MinRSABits: cfg.Agent.MinRSABits}, now)
		for _, p := range rep.Problems {
			out = append(out, problemLine("watch", name, p, w.CertFile))
		}
	}
	return out
}

// problemLine is one `check --files` line. It always names the file: the
// cert and key file of one cert can have the same problem ("missing"),
// and a line without the path does not say which. A problem of the pair
// rather than one file is reported against the cert file.
func problemLine(kind, name string, p pki.Problem, certFile string) string {
	file := p.File
	if file == "" {
		file = certFile
	}
	if strings.Contains(p.Detail, file) {
		return fmt.Sprintf("%s %q: %s: %s", kind, name, p.Kind, p.Detail)
	}
	return fmt.Sprintf("%s %q: %s: %s: %s", kind, name, file, p.Kind, p.Detail)
}

// existingLocalRoots returns a local CA's cert if the CA already exists;
// nil (skip the issuer check) for other issuers.
func existingLocalRoots(cfg *config.Config, issuer string) []*x509.Certificate {
	ic := cfg.Issuers[issuer]
	if ic == nil || ic.Type != "local" {
		return nil
	}
	roots, err := localca.New(issuer, filepath.Join(cfg.Agent.StateDir, "ca", issuer), ic).ExistingRoots(context.Background())
	if err != nil {
		return nil
	}
	return roots
}

// cmdRenew renews once and exits: 0 if every selected cert is fine.
func cmdRenew(ctx context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fl := newFlags(env, "renew", &cfgPath)
	force := fl.Bool("force", false, "renew even if not due")
	local := fl.Bool("local", false, "renew in this process even when the daemon runs")
	code, ok := parse(fl, args, env)
	if !ok {
		return code
	}
	var t daemonTarget
	if !*local {
		// The daemon checks the names against its own configuration.
		if t, ok = env.target(cfgPath); !ok {
			return exitUsage
		}
		req := control.Request{Op: control.OpRenew, Names: fl.Args(), Force: *force, StateDir: t.stateDir}
		rep, err := askDaemon(ctx, env, t.socket, req, true)
		switch {
		case err == nil:
			return rep.Exit
		case !errors.Is(err, errNoDaemon):
			return exchangeFailed(env, "renew", err)
		}
	}
	oneShotCollector()
	cfg, ok := t.config(env, cfgPath)
	if !ok {
		return exitUsage
	}
	for _, n := range fl.Args() {
		if cfg.Certs[n] == nil {
			fmt.Fprintf(env.stderr, "certagent: no cert named %q in %s (known: %s)\n", n, cfgPath, strings.Join(cfg.CertNames(), ", "))
			return exitUsage
		}
	}
	a, done, code := oneShotAgent(ctx, cfg, env)
	if a == nil {
		return code
	}
	defer done()
	if err := a.RenewOnce(ctx, fl.Args(), *force); err != nil {
		fmt.Fprintf(env.stderr, "certagent: renew: %v\n", err)
		return exitFailure
	}
	return exitOK
}

// cmdStatus prints each cert's state: the running daemon's view, or
// without one the files on disk merged with what the daemon last recorded
// (failures, backoff).
func cmdStatus(ctx context.Context, env *cmdEnv, args []string) int {
	var cfgPath string
	fl := newFlags(env, "status", &cfgPath)
	asJSON := fl.Bool("json", false, "print JSON (fields documented in docs/status.md)")
	local := fl.Bool("local", false, "read the files on disk even when the daemon runs")
	code, ok := parse(fl, args, env)
	if !ok {
		return code
	}
	var t daemonTarget
	if !*local {
		if t, ok = env.target(cfgPath); !ok {
			return exitUsage
		}
	}
	now := time.Now()
	rows, code, asked := daemonStatus(ctx, env, t, *local)
	if code != exitOK {
		return code
	}
	if !asked {
		oneShotCollector()
		cfg, ok := t.config(env, cfgPath)
		if !ok {
			return exitUsage
		}
		prev, err := agent.ReadStatusFile(cfg.Agent.StateDir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(env.stderr, "certagent: warning: %v\n", err)
		}
		rows = agent.StatusFromDisk(cfg, prev, now)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rows)
		return exitOK
	}
	printStatusTable(env, rows, now)
	return exitOK
}

// daemonStatus asks the daemon for its rows. asked is false when the
// caller must read the disk instead: --local, no daemon, or (for a user
// who is not root) no access to the socket.
func daemonStatus(ctx context.Context, env *cmdEnv, t daemonTarget, local bool) (rows []agent.CertStatus, code int, asked bool) {
	if local {
		return nil, exitOK, false
	}
	req := control.Request{Op: control.OpStatus, StateDir: t.stateDir}
	rep, err := askDaemon(ctx, env, t.socket, req, false)
	switch {
	case errors.Is(err, errNoDaemon):
		return nil, exitOK, false
	case errors.Is(err, fs.ErrPermission):
		fmt.Fprintf(env.stderr, "certagent: warning: cannot ask the daemon (%v); showing the files on disk\n", err)
		return nil, exitOK, false
	case err != nil:
		return nil, exchangeFailed(env, "status", err), true
	case rep.Exit != exitOK:
		return nil, rep.Exit, true
	}
	if err := json.Unmarshal(rep.Result, &rows); err != nil {
		return nil, exchangeFailed(env, "status", fmt.Errorf("bad status from the daemon: %w", err)), true
	}
	return rows, exitOK, true
}

func printStatusTable(env *cmdEnv, rows []agent.CertStatus, now time.Time) {
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tISSUER\tSANS\tNOT AFTER\tLEFT\tNEXT RENEWAL\tSTATE\tLAST ERROR")
	for _, r := range rows {
		na, left, next := "-", "-", "-"
		if !r.NotAfter.IsZero() {
			na = r.NotAfter.Local().Format("2006-01-02 15:04")
			left = agent.HumanDuration(r.NotAfter.Sub(now))
		}
		if !r.NextRenewal.IsZero() {
			next = r.NextRenewal.Local().Format("2006-01-02 15:04")
		}
		lastErr := r.LastError
		if lastErr == "" && len(r.Problems) > 0 {
			lastErr = r.Problems[0]
		}
		if lastErr == "" && r.State == agent.StateRevoked && r.Revocation != nil {
			lastErr = "revoked (" + r.Revocation.Reason + "); renew --force " + r.Name + " replaces it"
		}
		if r.State == agent.StateRevokePending && r.Revocation != nil {
			lastErr = "revocation of old serial " + r.Revocation.Serial + " pending: " + dash(r.Revocation.Error)
		}
		if lastErr == "" && r.KeyRemoved {
			lastErr = "(key removed after start, on purpose)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, issuerColumn(r), strings.Join(r.SANs, ","),
			na, left, next, r.State, dash(lastErr))
	}
	_ = tw.Flush()
	printRotations(env, rows)
	for _, r := range rows {
		if r.WatchDegraded != "" { // the daemon's watcher, the same for every row
			fmt.Fprintf(env.stdout, "watch degraded: %s\n", r.WatchDegraded)
			break
		}
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes, documented in certagent(8).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand of certagent.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, env *cmdEnv, args []string) int
}

// cmdEnv carries what every subcommand needs.
type cmdEnv struct {
	stdout, stderr io.Writer
}

var commands []command

func init() {
	commands = []command{
		{"run", "[--config FILE]", "run the daemon in the foreground", cmdRun},
		{"check", "[--config FILE] [--files]", "validate the configuration (and, with --files, the files on disk)", cmdCheck},
		{"renew", "[--config FILE] [--force] [--local] [NAME...]", "renew the due certs (or, with --force, the named or all certs) once and exit; through the daemon when it runs", cmdRenew},
		{"revoke", "[--config FILE] NAME [--reason REASON] [--no-reissue] [--local]", "revoke a cert with its issuer, then deploy a new pair (unless --no-reissue); through the daemon when it runs", cmdRevoke},
		{"ca", "rotate [--config FILE] ISSUER", "start rotating a local CA: a new CA, both roots in every ca_file, leaves re-issued over the overlap", cmdCA},
		{"status", "[--config FILE] [--json] [--local]", "show every cert's state, expiry and next renewal", cmdStatus},
		{"reload", "[--config FILE] [--socket PATH]", "make the running daemon re-read its configuration; exit 1 if it is rejected", cmdReload},
		{"account", "[--config FILE] rollover ISSUER", "replace the ACME account key of ISSUER at the CA (RFC 8555 key change)", cmdAccount},
		{"version", "", "print the version", cmdVersion},
	}
}

// run is the whole program behind main: it parses args and returns the
// exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	env := &cmdEnv{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		usage(stdout)
		return exitOK
	case "--version", "-version":
		return cmdVersion(ctx, env, nil)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(stderr, "certagent: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: certagent COMMAND [OPTIONS]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'certagent COMMAND --help' for a command's options.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.")
}

// newFlags builds a command's flag set with the shared --config flag.
func newFlags(env *cmdEnv, name string, cfgPath *string) *flag.FlagSet {
	fs := flag.NewFlagSet("certagent "+name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	if cfgPath != nil {
		fs.StringVar(cfgPath, "config", defaultConfigPath, "configuration `file`; *.toml in conf.d/ next to it are merged in name order")
	}
	fs.Usage = func() {
		for _, c := range commands {
			if c.name == name {
				fmt.Fprintf(fs.Output(), "usage: certagent %s %s\n\n%s\n\noptions:\n", c.name, c.args, c.summary)
			}
		}
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags; it returns an exit code when the command must stop.
// --help goes to stdout with exit 0; a bad flag prints usage to stderr.
func parse(fs *flag.FlagSet, args []string, env *cmdEnv) (int, bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(env.stdout)
			fs.Usage()
			return exitOK, false
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	return 0, true
}

func cmdVersion(_ context.Context, env *cmdEnv, args []string) int {
	if len(args) > 0 && strings.TrimLeft(args[0], "-") == "help" || len(args) > 0 && args[0] == "-h" {
		fmt.Fprintln(env.stdout, "usage: certagent version")
		return exitOK
	}
	fmt.Fprintf(env.stdout, "certagent %s\n", version)
	return exitOK
}

package trust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// HookPATH is the PATH hooks run with; `env` resolves a bare program
// name in it, so CheckCommand does too.
const HookPATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxNesting bounds `env env env …` chains.
const maxNesting = 8

// CheckCommand applies the rule to what a hook runs: argv[0] (an
// absolute path) along its whole resolved path; and, when that program is
// an interpreter (see Interpreters), the script it will run, and any file
// or directory it loads code from (perl and ruby -I, node -r). Code given
// inline (sh -c, python -c or -m, perl -e, ruby -e, node -e) is part of
// the config, which is trusted already. All other arguments are data.
func CheckCommand(argv []string) error {
	return checkCommand(argv, HookPATH, 0)
}

// Interpreters lists the programs whose script argument CheckCommand
// checks, matched against the base name of the resolved program
// ("python" matches every name that starts with it).
var Interpreters = []string{"sh", "bash", "dash", "zsh", "ash", "ksh", "mksh", "env", "busybox", "python*", "perl", "ruby", "node"}

func checkCommand(argv []string, pathEnv string, depth int) error {
	if len(argv) == 0 {
		return &Error{Msg: "no program to run", Fix: "name the program"}
	}
	if depth > maxNesting {
		return &Error{Path: argv[0], Msg: "too many nested env calls", Fix: "run the program directly"}
	}
	prog := argv[0]
	if !filepath.IsAbs(prog) {
		return &Error{Path: prog, Msg: fmt.Sprintf("program %s is not an absolute path", prog), Fix: "use the program's absolute path"}
	}
	c, err := CheckPath(prog)
	if err != nil {
		return err
	}
	// The resolved name decides the syntax (/usr/bin/python3 is
	// python3.12); messages use the name the config wrote.
	shown, name := filepath.Base(prog), filepath.Base(c.Path)
	busybox := name == "busybox"
	if busybox {
		// busybox runs the applet its argv[0] names, or argv[1] when
		// called as busybox.
		name = filepath.Base(prog)
		if name == "busybox" {
			if len(argv) < 2 {
				return nil
			}
			name, argv = filepath.Base(argv[1]), argv[1:]
			shown = "busybox " + name
		}
	}
	switch kind := kindOf(name); kind {
	case "env":
		return checkEnv(argv[1:], pathEnv, depth)
	case "":
		if busybox {
			return nil // an applet that runs no script
		}
		return checkShebang(c.Path, argv, pathEnv, depth)
	default:
		return checkScript(kind, shown, argv[1:])
	}
}

// kindOf maps a program's base name to its argument syntax.
func kindOf(name string) string {
	switch {
	case strings.HasPrefix(name, "python"):
		return "python"
	case name == "sh" || name == "bash" || name == "dash" || name == "zsh" || name == "ash" ||
		name == "ksh" || name == "mksh" || name == "hush":
		return "sh"
	case name == "env" || name == "perl" || name == "ruby" || name == "node" || name == "nodejs":
		if name == "nodejs" {
			return "node"
		}
		return name
	case strings.HasPrefix(name, "perl5"):
		return "perl"
	}
	return ""
}

// checkScript finds the script an interpreter will run, if any, and
// checks it and the code directories its options name.
func checkScript(kind, name string, args []string) error {
	p := parsers[kind]
	inline := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			if inline || i >= len(args) {
				return nil
			}
			return checkScriptFile(name, args[i])
		}
		if a == "-" || len(a) < 2 || (a[0] != '-' && !(kind == "sh" && a[0] == '+')) {
			if inline || a == "-" {
				return nil // inline code or stdin: no script file
			}
			return checkScriptFile(name, a)
		}
		used, isInline, files, err := p(a, args[i+1:])
		if err != nil {
			return err
		}
		i += used
		inline = inline || isInline
		for _, f := range files {
			if err := checkCodePath(name, f); err != nil {
				return err
			}
		}
		if isInline && kind == "python" {
			return nil // python -c/-m: the rest is sys.argv
		}
	}
	return nil
}

func checkScriptFile(name, script string) error {
	if !filepath.IsAbs(script) {
		return &Error{Path: script, Msg: fmt.Sprintf("script %s run by %s is not an absolute path", script, name),
			Fix: "use the script's absolute path"}
	}
	if _, err := CheckPath(script); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return &Error{Path: script, Msg: fmt.Sprintf("script %s run by %s does not exist", script, name),
				Fix: "install it or correct the path", Err: err}
		}
		return annotate(err, name)
	}
	return nil
}

// checkCodePath checks a file or directory an interpreter loads code
// from; names without a slash are modules found on the system path.
func checkCodePath(name, p string) error {
	if !strings.Contains(p, "/") {
		return nil
	}
	if !filepath.IsAbs(p) {
		return &Error{Path: p, Msg: fmt.Sprintf("code path %s used by %s is not an absolute path", p, name), Fix: "use an absolute path"}
	}
	if _, err := resolve(p); err != nil {
		return annotate(err, name)
	}
	return nil
}

func annotate(err error, name string) error {
	if e, ok := err.(*Error); ok {
		c := *e
		c.Msg = fmt.Sprintf("%s (script or code run by %s)", e.Msg, name)
		return &c
	}
	return err
}

// checkEnv finds the program `env` runs (after its options and NAME=VALUE
// assignments) and checks it like argv[0], recursively.
func checkEnv(args []string, pathEnv string, depth int) error {
	cleared := false
	i := 0
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			i++
			break
		}
		if len(a) < 2 || a[0] != '-' {
			break
		}
		switch {
		case a == "-i" || a == "--ignore-environment":
			cleared = true
		case a == "-S" || strings.HasPrefix(a, "--split-string") || (a[1] != '-' && strings.ContainsRune(a[1:], 'S')):
			return &Error{Path: a, Msg: "env -S (split string) hides the program certagent must check",
				Fix: "write the program and its arguments as separate exec elements"}
		case a == "-u" || a == "-C" || a == "--unset" || a == "--chdir":
			i++
		case a[1] != '-' && (strings.ContainsAny(a[1:], "uC")):
			// -iu NAME, -uNAME: the rest of the cluster or the next word
			k := strings.IndexAny(a[1:], "uC") + 2
			cleared = cleared || strings.Contains(a[1:k], "i")
			if k == len(a) {
				i++
			}
		case a[1] != '-' && strings.Contains(a, "i"):
			cleared = true
		}
	}
	if cleared {
		pathEnv = "/bin:/usr/bin" // execvp's default when PATH is unset
	}
	for ; i < len(args) && strings.Contains(args[i], "=") && !strings.Contains(strings.SplitN(args[i], "=", 2)[0], "/"); i++ {
		if v, ok := strings.CutPrefix(args[i], "PATH="); ok {
			pathEnv = v
		}
	}
	if i >= len(args) {
		return nil // env alone prints the environment
	}
	prog := args[i]
	if !strings.Contains(prog, "/") {
		found, err := lookPath(prog, pathEnv)
		if err != nil {
			return err
		}
		prog = found
	}
	return checkCommand(append([]string{prog}, args[i+1:]...), pathEnv, depth+1)
}

// lookPath resolves a bare name in pathEnv as execvp does; an empty or
// relative PATH entry (the current directory) is refused.
func lookPath(name, pathEnv string) (string, error) {
	for _, dir := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(dir) {
			return "", &Error{Path: dir, Msg: fmt.Sprintf("PATH for env holds the relative entry %q", dir), Fix: "use absolute PATH entries"}
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", &Error{Path: name, Msg: fmt.Sprintf("env program %s is not in PATH %s", name, pathEnv), Fix: "use the program's absolute path"}
}

// checkShebang checks the interpreter a "#!" script names, since the
// kernel runs it as root: `#!/path/interp [arg]` runs interp [arg]
// script args…, which is checked like any command (so
// `#!/usr/bin/env python3` checks the python3 env finds, and the script
// itself again as its argument).
func checkShebang(resolved string, argv []string, pathEnv string, depth int) error {
	f, err := OpenTrusted(resolved)
	if err != nil {
		return err
	}
	head := make([]byte, 256)
	n, _ := io.ReadFull(f, head)
	f.Close()
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	rest, ok := strings.CutPrefix(line, "#!")
	if !ok {
		return nil
	}
	interp, arg, _ := strings.Cut(strings.TrimSpace(rest), " ")
	interp = strings.TrimSpace(strings.SplitN(interp, "\t", 2)[0])
	if interp == "" {
		return nil
	}
	cmd := []string{interp}
	if arg = strings.TrimSpace(arg); arg != "" {
		cmd = append(cmd, arg)
	}
	err = checkCommand(append(append(cmd, argv[0]), argv[1:]...), pathEnv, depth+1)
	if e, ok := err.(*Error); ok {
		c := *e
		c.Msg = fmt.Sprintf("%s (in the #! line of %s)", e.Msg, argv[0])
		return &c
	}
	return err
}

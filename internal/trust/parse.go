package trust

import "strings"

// optParser reads one option word a (with the words after it in next) of
// an interpreter's command line. It returns how many words of next it
// used, whether the option gives inline code (so no script file follows),
// and the files or directories the option loads code from.
type optParser func(a string, next []string) (used int, inline bool, files []string, err error)

var parsers = map[string]optParser{
	"sh": shellOpt, "python": pythonOpt, "perl": perlOpt, "ruby": rubyOpt, "node": nodeOpt,
}

// optArg is the argument of the short option at a[i]: the rest of the
// word, or the next word.
func optArg(a string, i int, next []string) (arg string, used int) {
	if i+1 < len(a) {
		return a[i+1:], 0
	}
	if len(next) > 0 {
		return next[0], 1
	}
	return "", 0
}

// shellOpt: -c (code is the first operand), -s (stdin), -o/-O NAME,
// bash's --rcfile/--init-file FILE.
func shellOpt(a string, next []string) (int, bool, []string, error) {
	if strings.HasPrefix(a, "--") {
		if (a == "--rcfile" || a == "--init-file") && len(next) > 0 {
			return 1, false, []string{next[0]}, nil
		}
		return 0, false, nil, nil
	}
	used, inline := 0, false
	for _, r := range a[1:] {
		switch r {
		case 'c', 's':
			inline = true
		case 'o', 'O':
			used++
		}
	}
	return min(used, len(next)), inline, nil, nil
}

// pythonOpt: -c CODE and -m MODULE end the options; -W, -X take a value.
func pythonOpt(a string, next []string) (int, bool, []string, error) {
	if strings.HasPrefix(a, "--") {
		if a == "--check-hash-based-pycs" && len(next) > 0 {
			return 1, false, nil, nil
		}
		return 0, false, nil, nil
	}
	for i := 1; i < len(a); i++ {
		switch a[i] {
		case 'c', 'm':
			_, used := optArg(a, i, next)
			return used, true, nil, nil
		case 'W', 'X', 'Q':
			_, used := optArg(a, i, next)
			return used, false, nil, nil
		}
	}
	return 0, false, nil, nil
}

// perlOpt: -e/-E CODE; -I DIR (checked); switches with attached values.
func perlOpt(a string, next []string) (int, bool, []string, error) {
	if strings.HasPrefix(a, "--") {
		return 0, false, nil, nil
	}
	inline := false
	for i := 1; i < len(a); i++ {
		switch c := a[i]; c {
		case 'e', 'E':
			_, used := optArg(a, i, next)
			return used, true, nil, nil
		case 'I':
			dir, used := optArg(a, i, next)
			return used, inline, []string{dir}, nil
		case 'M', 'm', 'x', 'i', 'F', 'd', 'D', 'V':
			return 0, inline, nil, nil // the rest of the word is the value
		case '0', 'l', 'C':
			for i+1 < len(a) && (a[i+1] >= '0' && a[i+1] <= '9' || c == '0' && a[i+1] == 'x') {
				i++
			}
		}
	}
	return 0, inline, nil, nil
}

// rubyOpt: -e CODE; -I DIR and -r LIB (checked when a path); -C DIR and
// -E ENC take a value.
func rubyOpt(a string, next []string) (int, bool, []string, error) {
	if strings.HasPrefix(a, "--") {
		switch a {
		case "--disable", "--enable", "--encoding", "--external-encoding", "--internal-encoding", "--dump":
			return min(1, len(next)), false, nil, nil
		}
		return 0, false, nil, nil
	}
	for i := 1; i < len(a); i++ {
		switch a[i] {
		case 'e':
			_, used := optArg(a, i, next)
			return used, true, nil, nil
		case 'I', 'r':
			p, used := optArg(a, i, next)
			return used, false, []string{p}, nil
		case 'C', 'E':
			_, used := optArg(a, i, next)
			return used, false, nil, nil
		case 'x', 'i', 'F', 'K', 'T', 'W', '0':
			return 0, false, nil, nil
		}
	}
	return 0, false, nil, nil
}

// nodeLoads are node options whose value is code or config node loads.
var nodeLoads = map[string]bool{
	"-r": true, "--require": true, "--import": true, "--loader": true, "--experimental-loader": true,
	"--env-file": true, "--env-file-if-exists": true, "--openssl-config": true,
}

// nodeValues are node options known to take a value in the next word.
var nodeValues = map[string]bool{
	"-C": true, "--conditions": true, "--title": true, "--inspect-port": true, "--input-type": true,
	"--disable-warning": true, "--icu-data-dir": true, "--redirect-warnings": true, "--diagnostic-dir": true,
	"--report-dir": true, "--tls-keylog": true, "--watch-path": true,
}

// nodeOpt: -e/--eval and -p/--print CODE; module and env-file options
// (checked when a path).
func nodeOpt(a string, next []string) (int, bool, []string, error) {
	name, val, hasVal := strings.Cut(a, "=")
	used := 0
	if !hasVal && len(next) > 0 {
		val, used = next[0], 1
	}
	switch {
	case name == "--eval" || name == "--print" || (!strings.HasPrefix(a, "--") && strings.ContainsAny(a, "ep")):
		if name == "--print" || name == "-p" {
			if !hasVal && (len(next) == 0 || strings.HasPrefix(next[0], "-")) {
				return 0, true, nil, nil // -p alone prints the -e code's value
			}
		}
		return used, true, nil, nil
	case nodeLoads[name]:
		return used, false, []string{val}, nil
	case nodeValues[name]:
		return used, false, nil, nil
	}
	return 0, false, nil, nil
}

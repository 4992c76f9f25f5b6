package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/certagent/certagent/internal/trust"
)

// checkPath rejects paths certagent cannot safely use as an output or
// input: relative paths, and NUL or newline characters (which would let a
// path smuggle a second entry into logs, unit files or tls_info strings).
func checkPath(p string) *valueError {
	switch {
	case strings.IndexByte(p, 0) >= 0:
		return badValue("remove the NUL character from the path", "path %s contains a NUL byte", quoteShort(p))
	case strings.ContainsAny(p, "\n\r"):
		return badValue("remove the line break from the path", "path %s contains a newline", quoteShort(p))
	case !filepath.IsAbs(p):
		return badValue("use an absolute path starting with /", "relative path %s", quoteShort(p))
	case strings.HasSuffix(p, "/") && p != "/":
		return badValue("name a file, not a directory", "path %s ends with /", quoteShort(p))
	}
	return nil
}

// checkHostPort accepts "host:port" or ":port" with a numeric port.
func checkHostPort(s string, allowZeroPort bool) *valueError {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return badValue(`use host:port, e.g. "127.0.0.1:9610" or ":80"`, "bad address %s", quoteShort(s))
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !allowZeroPort) {
		return badValue("use a port number from 1 to 65535", "bad port %s in %s", quoteShort(port), quoteShort(s))
	}
	if strings.ContainsAny(host, " \t\n\x00/") {
		return badValue(`use host:port, e.g. "127.0.0.1:9610" or ":80"`, "bad host %s in %s", quoteShort(host), quoteShort(s))
	}
	return nil
}

// isLoopbackHost reports whether host only listens on loopback.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkDirectoryURL checks an ACME directory URL without fetching it.
func checkDirectoryURL(s string, insecure bool) *valueError {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return badValue(`use the CA's directory URL, e.g. "https://acme-v02.api.letsencrypt.org/directory"`,
			"bad directory URL %s", quoteShort(s))
	}
	if u.Scheme == "http" && !insecure {
		return badValue("use https://, or set insecure_directory = true for a test CA",
			"directory URL %s is not https", quoteShort(s))
	}
	return nil
}

// checkDNSName validates a DNS SAN the way public CAs and Go's x509
// verifier see it: LDH labels, optional leading "*." wildcard.
func checkDNSName(n string) *valueError {
	fix := "use a host name such as \"host.example.com\""
	switch {
	case n == "":
		return badValue(fix, "empty dns name")
	case net.ParseIP(n) != nil:
		return badValue("put IP addresses in ip_addresses", "dns name %s is an IP address", quoteShort(n))
	case len(n) > 253:
		return badValue("use a name of at most 253 characters", "dns name %s is too long", quoteShort(n))
	case strings.HasSuffix(n, "."):
		return badValue("remove the trailing dot", "dns name %s ends with a dot", quoteShort(n))
	}
	labels := strings.Split(n, ".")
	for i, l := range labels {
		if l == "*" && i == 0 && len(labels) > 2 {
			continue
		}
		if l == "*" || strings.Contains(l, "*") {
			return badValue(`a wildcard must be the whole leftmost label of a name with at least two more labels, e.g. "*.example.com"`,
				"invalid wildcard in dns name %s", quoteShort(n))
		}
		if l == "" || len(l) > 63 {
			return badValue(fix, "invalid dns name %s: empty label or label longer than 63 characters", quoteShort(n))
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return badValue(fix, "invalid dns name %s: a label starts or ends with '-'", quoteShort(n))
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				f := fix
				if r > 127 {
					f = "write internationalized names in their xn-- (punycode) form"
				}
				return badValue(f, "invalid dns name %s: character %q is not allowed", quoteShort(n), r)
			}
		}
	}
	return nil
}

// unitSuffixes are the systemd unit types certagent can act on.
var unitSuffixes = map[string]bool{
	"service": true, "socket": true, "target": true, "path": true, "timer": true,
	"mount": true, "automount": true, "swap": true, "device": true, "slice": true, "scope": true,
}

// checkUnitName validates a systemd unit name (systemd.unit(5)).
func checkUnitName(u string) *valueError {
	dot := strings.LastIndexByte(u, '.')
	if dot <= 0 || !unitSuffixes[u[dot+1:]] {
		return badValue(`give the full unit name with its type, e.g. "nginx.service"`, "invalid unit name %s", quoteShort(u))
	}
	if len(u) > 255 {
		return badValue("use a unit name of at most 255 characters", "unit name %s is too long", quoteShort(u))
	}
	prefix := u[:dot]
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(":_.\\-@", r)) {
			return badValue("unit names use letters, digits and : _ . \\ - @", "invalid unit name %s: character %q is not allowed", quoteShort(u), r)
		}
	}
	if at := strings.IndexByte(prefix, '@'); at >= 0 {
		if at == 0 || strings.Count(prefix, "@") > 1 {
			return badValue(`use "name@instance.service"`, "invalid unit name %s", quoteShort(u))
		}
		if at == len(prefix)-1 {
			return badValue(fmt.Sprintf("name an instance, e.g. %q", prefix+"main."+u[dot+1:]),
				"unit %s is a template, which cannot be restarted", quoteShort(u))
		}
	}
	return nil
}

// checkSecretFile checks a credential file: it must exist, be a regular
// readable file, have no group or other permission bits, and pass the
// trust rule (internal/trust: owned by root or the user certagent runs
// as, along its whole path and any symlink's target).
func checkSecretFile(p string) *valueError {
	fi, ve := statRegular(p)
	if ve != nil {
		return ve
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return badValue("chmod 0600 "+p, "%s is accessible by group or others (mode %04o)", p, perm)
	}
	if ve := checkTrustedFile(p); ve != nil {
		return ve
	}
	f, err := os.Open(p)
	if err != nil {
		return badValue("make it readable by root", "cannot read %s: %v", p, unwrapPathErr(err))
	}
	f.Close()
	return nil
}

// checkExecutable checks a hook program: certagent runs it as root, so it
// must pass the trust rule along its whole resolved path.
func checkExecutable(p string) *valueError {
	fi, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return badValue("install it or correct the path", "program %s does not exist", p)
		}
		return badValue("make it accessible to root", "cannot stat %s: %v", p, unwrapPathErr(err))
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return badValue("chmod 0755 "+p, "%s is not an executable file", p)
	}
	// The program itself is named by the path the config wrote (chmod
	// and chown follow a link), and by its target when that differs;
	// the walk then names what it finds on the way.
	var target string
	if t, err := filepath.EvalSymlinks(p); err == nil && t != p {
		target = " (a symlink to " + t + ")"
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return badValue("chmod go-w "+p, "%s is writable by group or others (mode %04o)%s", p, perm, target)
	}
	if uid, ok := foreignOwner(fi); ok {
		return badValue("chown root "+p, "%s is owned by uid %d, not root%s", p, uid, target)
	}
	return checkTrustedFile(p)
}

// checkHook checks a hook's command line: the program, and when it is an
// interpreter (sh, python, env, …) the script it runs (trust.CheckCommand
// documents the rule). The agent applies the same check before each run.
func checkHook(argv []string) *valueError {
	if ve := checkExecutable(argv[0]); ve != nil {
		return ve
	}
	return trustError(trust.CheckCommand(argv))
}

// checkConfigFile applies the same ownership rule to config files and
// drop-ins: certagent runs hooks and restarts units as root from them.
// fi is the stat of the opened file; it must be the file the trust walk
// reaches through any symlink.
func checkConfigFile(p string, fi os.FileInfo) *valueError {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return badValue("chmod go-w "+p, "config file is writable by group or others (mode %04o)", perm)
	}
	if uid, ok := foreignOwner(fi); ok {
		return badValue("chown root "+p, "config file is owned by uid %d, not root", uid)
	}
	c, err := trust.CheckPath(p)
	if err != nil {
		return trustError(err)
	}
	if !c.SameFile(fi) {
		return badValue("find out who replaces it", "config file %s changed while it was read", p)
	}
	return nil
}

// checkTrustedFile applies the trust rule to a file certagent reads or
// runs as root.
func checkTrustedFile(p string) *valueError {
	_, err := trust.CheckPath(p)
	return trustError(err)
}

// checkTrustedDirs refuses a directory when it, any directory above it, or
// any symlink on the way (and its target's path) can be changed by a user
// other than root (or the agent's own user): whoever can write it can swap
// the files certagent trusts, as sshd's StrictModes and sudo reason.
// Root-owned sticky directories (/tmp) are fine: others cannot rename
// what they do not own there. A directory that does not exist yet (one
// certagent will create) is judged by its nearest existing ancestor.
func checkTrustedDirs(dir string) *valueError {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil
	}
	for {
		_, err := trust.CheckDir(dir)
		if !errors.Is(err, fs.ErrNotExist) {
			return trustError(err)
		}
		// Everything the walk met before the missing name was trusted.
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil
		}
		dir = parent
	}
}

// trustError turns a trust.Error into a config error with its fix.
func trustError(err error) *valueError {
	if err == nil {
		return nil
	}
	var te *trust.Error
	if errors.As(err, &te) {
		return badValue(te.Fix, "%s", te.Msg)
	}
	return badValue("make it accessible to root", "%v", err)
}

func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func checkReadableFile(p string) *valueError {
	_, ve := statRegular(p)
	return ve
}

// statRegular stats p and requires a regular file.
func statRegular(p string) (os.FileInfo, *valueError) {
	fi, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, badValue("create it or correct the path", "file %s does not exist", p)
		}
		return nil, badValue("make it readable by root", "cannot stat %s: %v", p, unwrapPathErr(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, badValue("point it at a regular file", "%s is not a regular file", p)
	}
	return fi, nil
}

// foreignOwner returns the owner of fi when it is neither root nor the
// user certagent runs as.
func foreignOwner(fi os.FileInfo) (uint32, bool) { return trust.ForeignOwner(fi) }

func checkDir(p string) *valueError {
	fi, err := os.Stat(p)
	if err != nil {
		if os.IsNotExist(err) {
			return badValue("create it or correct the path", "directory %s does not exist", p)
		}
		return badValue("make it accessible to root", "cannot stat %s: %v", p, unwrapPathErr(err))
	}
	if !fi.IsDir() {
		return badValue("point it at a directory", "%s is not a directory", p)
	}
	return nil
}

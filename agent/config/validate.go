package config

import (
	"fmt"
	"net"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// Options adapts validation to its environment. The zero value validates
// against the real host: os/user lookups, real file checks, any DNS
// provider name.
type Options struct {
	// KnownDNSProvider reports whether a dns_provider name is supported by
	// this build; nil accepts any name.
	KnownDNSProvider func(name string) bool
	// LookupUser and LookupGroup resolve owner and group names; nil uses
	// os/user. Numeric ids are accepted without a lookup.
	LookupUser  func(name string) (uid int, err error)
	LookupGroup func(name string) (gid int, err error)
	// SkipFileChecks skips the checks that stat files on disk (credential
	// files, CA bundles, webroots, hooks, config file and state_dir
	// ownership), for tests.
	SkipFileChecks bool
	// Getenv reads $CREDENTIALS_DIRECTORY for password credentials; nil
	// uses os.Getenv.
	Getenv func(string) string
}

// Minimum spans: shorter values are almost certainly typos ("90s" for
// "90d") and would make the agent renew in a loop.
const (
	minCertValidity = time.Minute
	minCAValidity   = time.Hour
)

// KeyTypes lists the valid key_type values.
var KeyTypes = []string{
	string(pki.KeyEC256), string(pki.KeyEC384), string(pki.KeyRSA2048),
	string(pki.KeyRSA3072), string(pki.KeyRSA4096), string(pki.KeyEd25519),
}

var (
	logLevels  = []string{"trace", "debug", "info", "warn", "error"}
	logFormats = []string{"auto", "text", "json"}
	actions    = []string{"restart", "reload", "try-restart", "reload-or-restart"}
	challenges = []string{"http-01", "tls-alpn-01", "dns-01"}
)

// Validate checks a defaulted Config and fills its resolved fields (names,
// IPs, UID/GID, renew_before). It reports every problem as *Errors and
// never touches the network or a CA.
func Validate(c *Config, opts Options) error {
	v := &validator{c: c, opts: opts, col: &collector{}}
	if c.src != nil {
		v.col.failed = c.src.failed
	}
	v.agent()
	for _, name := range sortedKeys(c.Issuers) {
		if is := c.Issuers[name]; is != nil {
			is.Name = name
			v.issuer(name, is)
		}
	}
	for _, name := range sortedKeys(c.Certs) {
		if ct := c.Certs[name]; ct != nil {
			ct.Name = name
			ct.siblings = c.Certs
			v.cert(name, ct)
		}
	}
	for _, name := range sortedKeys(c.Watch) {
		if w := c.Watch[name]; w != nil {
			w.Name = name
			v.watch(name, w)
		}
	}
	v.paths()
	return v.col.result()
}

type validator struct {
	c    *Config
	opts Options
	col  *collector
}

// errAt reports a problem with key in the table at path (e.g. certs, web).
func (v *validator) errAt(path []string, section, key string, ve *valueError) {
	full := path
	if key != "" {
		full = append(append([]string{}, path...), key)
	}
	p := v.c.where(full...)
	v.col.add(&Error{File: p.file, Line: p.line, Section: section, Key: key, Msg: ve.msg, Fix: ve.fix})
}

func (v *validator) agent() {
	a := &v.c.Agent
	at := func(key string, ve *valueError) {
		if ve != nil {
			v.errAt([]string{"agent"}, "agent", key, ve)
		}
	}
	if ve := checkPath(a.StateDir); ve != nil {
		at("state_dir", ve)
	} else if !v.opts.SkipFileChecks {
		at("state_dir", checkStateDir(a.StateDir))
	}
	at("check_interval", positive(a.CheckInterval, "check_interval", "12h"))
	at("warn_before", positive(a.WarnBefore, "warn_before", "14d"))
	at("log_level", oneOf(a.LogLevel, "log level", logLevels))
	at("log_format", oneOf(a.LogFormat, "log format", logFormats))
	if a.MetricsListen != "" {
		if ve := checkHostPort(a.MetricsListen, false); ve != nil {
			at("metrics_listen", ve)
		} else if host, _, _ := net.SplitHostPort(a.MetricsListen); !isLoopbackHost(host) && !a.MetricsAllowRemote {
			at("metrics_listen", badValue(`listen on "127.0.0.1:PORT", or set metrics_allow_remote = true`,
				"%s is not a loopback address", quoteShort(a.MetricsListen)))
		}
	}
	if a.MinRSABits < 1024 || a.MinRSABits > 16384 {
		at("min_rsa_bits", badValue("use a value from 1024 to 16384, e.g. 2048", "min_rsa_bits %d is out of range", a.MinRSABits))
	}
	for _, kt := range a.AllowedKeyTypes {
		at("allowed_key_types", oneOf(kt, "key type", KeyTypes))
	}
}

// keyType checks a key type against the known types and the agent policy.
func (v *validator) keyType(kt string) *valueError {
	if ve := oneOf(kt, "key type", KeyTypes); ve != nil {
		return ve
	}
	if bits := rsaBits(kt); bits > 0 && bits < v.c.Agent.MinRSABits {
		return badValue(fmt.Sprintf("use rsa%d or larger, or an EC key type", v.c.Agent.MinRSABits),
			"key type %s is below min_rsa_bits %d", kt, v.c.Agent.MinRSABits)
	}
	if al := v.c.Agent.AllowedKeyTypes; len(al) > 0 && !hasString(al, kt) {
		return badValue("use one of allowed_key_types: "+strings.Join(al, ", "),
			"key type %s is not in [agent] allowed_key_types", kt)
	}
	return nil
}

func rsaBits(kt string) int {
	if n, ok := strings.CutPrefix(kt, "rsa"); ok {
		b, _ := strconv.Atoi(n)
		return b
	}
	return 0
}

// checkName keeps names usable as file names under state_dir, as log
// fields and as metric labels.
func checkName(n string) *valueError {
	fix := "use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters"
	if n == "" || len(n) > 64 {
		return badValue(fix, "invalid name %s", quoteShort(n))
	}
	for i, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && strings.ContainsRune("._-", r))
		if !ok {
			return badValue(fix, "invalid name %s", quoteShort(n))
		}
	}
	return nil
}

func (v *validator) lookupOwner(name string, group bool) (int, *valueError) {
	if n, err := strconv.Atoi(name); err == nil && n >= 0 {
		return n, nil
	}
	var id int
	var err error
	switch {
	case group && v.opts.LookupGroup != nil:
		id, err = v.opts.LookupGroup(name)
	case group:
		var g *user.Group
		if g, err = user.LookupGroup(name); err == nil {
			id, err = strconv.Atoi(g.Gid)
		}
	case v.opts.LookupUser != nil:
		id, err = v.opts.LookupUser(name)
	default:
		var u *user.User
		if u, err = user.Lookup(name); err == nil {
			id, err = strconv.Atoi(u.Uid)
		}
	}
	if err != nil {
		if group {
			return -1, badValue("create the group first (groupadd) or correct the name", "unknown group %s", quoteShort(name))
		}
		return -1, badValue("create the user first (useradd --system) or correct the name", "unknown user %s", quoteShort(name))
	}
	return id, nil
}

func oneOf(s, what string, valid []string) *valueError {
	if hasString(valid, s) {
		return nil
	}
	return badValue("use one of: "+strings.Join(valid, ", "), "unknown %s %s", what, quoteShort(s))
}

func positive(d Duration, key, example string) *valueError {
	if d.Duration <= 0 {
		return badValue(fmt.Sprintf(`use a positive duration, e.g. %s = %q`, key, example), "%s must be longer than zero", key)
	}
	return nil
}

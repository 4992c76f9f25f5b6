package acme

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/go-acme/lego/v4/challenge"
	"github.com/go-acme/lego/v4/challenge/dns01"
)

// KnownDNSProvider reports whether name is a DNS provider this build can
// use (lego's name, e.g. "cloudflare", "route53", "exec"). It needs no
// credentials and touches no network. Builds without the dnsall tag know
// the common providers listed in providers_default.go.
func KnownDNSProvider(name string) bool {
	_, ok := lookupDNSProvider(name)
	return ok
}

var envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// readEnvFile parses KEY=VALUE lines; blank lines and # comments are
// skipped, "export " and matching quotes around the value are removed.
// Errors name the line but never echo a value.
func readEnvFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || !envKeyRE.MatchString(k) {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	return vars, sc.Err()
}

// envMu serializes the temporary process-environment changes made while
// lego's providers read their configuration with os.Getenv.
var envMu sync.Mutex

// newDNSProvider builds the configured provider with the variables of
// dns_env_file visible in the environment only while its constructor
// runs; the previous environment is restored afterwards.
func (i *Issuer) newDNSProvider() (challenge.Provider, error) {
	ctor, ok := lookupDNSProvider(i.cfg.DNSProvider)
	if !ok {
		return nil, fmt.Errorf("unknown DNS provider %q", i.cfg.DNSProvider)
	}
	vars := map[string]string{}
	if i.cfg.DNSEnvFile != "" {
		var err error
		if vars, err = readEnvFile(i.cfg.DNSEnvFile); err != nil {
			return nil, fmt.Errorf("dns_env_file: %w", err)
		}
	}
	envMu.Lock()
	defer envMu.Unlock()
	restore := setEnv(vars)
	defer restore()
	p, err := ctor()
	if err != nil {
		// Provider errors name missing variables, never their values.
		return nil, fmt.Errorf("DNS provider %q: %w", i.cfg.DNSProvider, err)
	}
	return p, nil
}

// setEnv sets vars and returns a function restoring the previous values.
func setEnv(vars map[string]string) func() {
	type old struct {
		v  string
		ok bool
	}
	saved := make(map[string]old, len(vars))
	for k, v := range vars {
		prev, ok := os.LookupEnv(k)
		saved[k] = old{prev, ok}
		_ = os.Setenv(k, v)
	}
	return func() {
		for k, o := range saved {
			if o.ok {
				_ = os.Setenv(k, o.v)
			} else {
				_ = os.Unsetenv(k)
			}
		}
	}
}

// lego v4 keeps the recursive nameservers in a package variable, read
// concurrently by every DNS-01 order. It is therefore set once per
// process, by the first issuer that configures dns_resolvers, and never
// rewritten; an issuer asking for a different set gets an error.
var (
	resolversMu  sync.Mutex
	resolversSet []string
)

func useResolvers(rs []string) error {
	if len(rs) == 0 {
		return nil
	}
	resolversMu.Lock()
	defer resolversMu.Unlock()
	if resolversSet == nil {
		// The option ignores its *Challenge argument.
		if err := dns01.AddRecursiveNameservers(rs)(nil); err != nil {
			return err
		}
		resolversSet = slices.Clone(rs)
		return nil
	}
	if !slices.Equal(resolversSet, rs) {
		return fmt.Errorf("dns_resolvers %v differ from %v already in use: lego v4 supports one set per process", rs, resolversSet)
	}
	return nil
}

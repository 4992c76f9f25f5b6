package config

import (
	"fmt"

	"github.com/BurntSushi/toml"
)

// ServerAuth reports whether the cert is for TLS servers (usage "server").
func (c *Cert) ServerAuth() bool { return hasString(c.Usage, "server") }

// ClientAuth reports whether the cert is for TLS clients (usage "client").
func (c *Cert) ClientAuth() bool { return hasString(c.Usage, "client") }

// OutputFiles lists the cert's configured output paths (key, cert,
// fullchain, chain, CA bundle), leaving out the empty ones.
// It includes the format outputs (bundle, PKCS#12, tls_info and template
// destinations), so they are watched and re-made when missing.
func (c *Cert) OutputFiles() []string {
	var out []string
	for _, kv := range c.outputs() {
		out = append(out, kv[1])
	}
	return out
}

// outputs pairs each non-empty output path with its key name; template
// destinations are all named "templates".
func (c *Cert) outputs() [][2]string {
	var out [][2]string
	for _, kv := range [][2]string{
		{"key_file", c.KeyFile}, {"cert_file", c.CertFile}, {"fullchain_file", c.FullchainFile},
		{"chain_file", c.ChainFile}, {"ca_file", c.CAFile}, {"bundle_file", c.BundleFile},
		{"pkcs12_file", c.PKCS12File}, {"tls_info_file", c.TLSInfoFile},
	} {
		if kv[1] != "" {
			out = append(out, kv)
		}
	}
	for _, t := range c.Templates {
		if t.Dest != "" {
			out = append(out, [2]string{"templates", t.Dest})
		}
	}
	return out
}

// CertNames returns the names of the managed certs, sorted.
func (c *Config) CertNames() []string { return sortedKeys(c.Certs) }

// WatchNames returns the names of the watch-only entries, sorted.
func (c *Config) WatchNames() []string { return sortedKeys(c.Watch) }

// IssuerNames returns the names of the issuers, sorted.
func (c *Config) IssuerNames() []string { return sortedKeys(c.Issuers) }

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// where returns the position of the longest prefix of path that was
// defined in a file, falling back to the first file with no line.
func (c *Config) where(path ...string) srcPos {
	if c.src != nil {
		for i := len(path); i > 0; i-- {
			if p, ok := c.src.pos[toml.Key(path[:i]).String()]; ok {
				return p
			}
		}
	}
	if len(c.Files) > 0 {
		return srcPos{file: c.Files[0]}
	}
	return srcPos{}
}

// written reports whether a file set this exact key (so that an explicit
// 0 is judged by Validate rather than replaced by a default).
func (c *Config) written(path ...string) bool {
	if c.src == nil {
		return false
	}
	_, ok := c.src.pos[tomlKey(path...)]
	return ok
}

// suggest proposes the closest valid name, or returns fallback.
func suggest(got string, valid []string, fallback string) string {
	best, bestD := "", 3
	for _, v := range valid {
		if d := editDistance(got, v); d < bestD || (d == bestD && v < best) {
			best, bestD = v, d
		}
	}
	if best != "" && bestD <= 2 {
		return fmt.Sprintf("did you mean %q?", best)
	}
	return fallback
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func tomlKey(parts ...string) string { return toml.Key(parts).String() }

// ForgetSources drops the file and line of every key, which only Load's
// and Parse's own messages use. A daemon keeps its Config for its
// lifetime, and at 10,000 certs the positions cost about 750 bytes per
// cert; messages about this Config afterwards name no line.
func (c *Config) ForgetSources() {
	if c.src != nil {
		c.src.pos = nil
	}
}

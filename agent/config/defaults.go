package config

import (
	"time"
)

// DefaultPath is where certagent looks for its config; drop-ins are read
// from conf.d/ next to it.
const DefaultPath = "/etc/certagent/certagent.toml"

// Default values, documented in docs/configuration.md.
const (
	DefaultStateDir          = "/var/lib/certagent"
	DefaultCheckInterval     = 12 * time.Hour
	DefaultWarnBefore        = 14 * 24 * time.Hour
	DefaultLogLevel          = "info"
	DefaultLogFormat         = "auto"
	DefaultMinRSABits        = 2048
	DefaultCAKeyType         = "ec384"
	DefaultCAValidity        = 3650 * 24 * time.Hour
	DefaultChallenge         = "http-01"
	DefaultHTTPListen        = ":80"
	DefaultTLSListen         = ":443"
	DefaultMaxConcurrent     = 4
	DefaultKeyType           = "ec256"
	DefaultLocalCertValidity = 90 * 24 * time.Hour
	DefaultMode              = 0o600
	DefaultDirMode           = 0o755
	DefaultAction            = "restart"
	DefaultSettle            = 10 * time.Second
	DefaultExecTimeout       = 60 * time.Second
	DefaultKeyFormat         = "pkcs8"
	DefaultPasswordPolicy    = "none"
)

// cert_file_chain values: what cert_file holds.
const (
	ChainLeaf         = "leaf"           // the leaf only
	ChainFull         = "full"           // leaf, then the intermediates
	ChainFullWithRoot = "full_with_root" // leaf, intermediates, then the issuer's root
)

// ApplyDefaults fills every unset key with its documented default. It
// only fills absent values; anything set in the file is left for Validate
// to judge. It is idempotent.
func ApplyDefaults(c *Config) {
	a := &c.Agent
	defStr(&a.StateDir, DefaultStateDir)
	defDur(&a.CheckInterval, DefaultCheckInterval)
	defDur(&a.WarnBefore, DefaultWarnBefore)
	defStr(&a.LogLevel, DefaultLogLevel)
	defStr(&a.LogFormat, DefaultLogFormat)
	if a.MinRSABits == 0 && !c.written("agent", "min_rsa_bits") {
		a.MinRSABits = DefaultMinRSABits
	}
	for name, is := range c.Issuers {
		if is == nil {
			continue
		}
		switch is.Type {
		case "local":
			defStr(&is.KeyType, DefaultCAKeyType)
			defStr(&is.CommonName, "certagent "+name+" CA")
			defDur(&is.Validity, DefaultCAValidity)
		case "acme":
			defStr(&is.Challenge, DefaultChallenge)
			defStr(&is.HTTPListen, DefaultHTTPListen)
			defStr(&is.TLSListen, DefaultTLSListen)
			if is.ARI == nil {
				t := true
				is.ARI = &t
			}
			if is.MaxConcurrent == 0 && !c.written("issuers", name, "max_concurrent") {
				is.MaxConcurrent = DefaultMaxConcurrent
			}
		case "step":
			if is.MaxConcurrent == 0 && !c.written("issuers", name, "max_concurrent") {
				is.MaxConcurrent = DefaultMaxConcurrent
			}
		}
	}
	for _, ct := range c.Certs {
		if ct != nil {
			certDefaults(c, ct)
		}
	}
	for _, w := range c.Watch {
		if w == nil {
			continue
		}
		defStr(&w.Action, DefaultAction)
		defDur(&w.ExecTimeout, DefaultExecTimeout)
	}
}

func certDefaults(c *Config, ct *Cert) {
	applyPreset(c, ct)
	if ct.Usage == nil {
		ct.Usage = []string{"server"}
	}
	defStr(&ct.KeyType, DefaultKeyType)
	if is := c.Issuers[ct.Issuer]; is != nil && is.Type == "local" {
		defDur(&ct.Validity, DefaultLocalCertValidity)
	}
	if ct.CommonName == "" {
		switch {
		case len(ct.DNSNames) > 0:
			ct.CommonName = ct.DNSNames[0]
		case len(ct.IPAddresses) > 0:
			ct.CommonName = ct.IPAddresses[0]
		}
	}
	if !ct.Mode.Set && ct.Mode.FileMode == 0 {
		ct.Mode.FileMode = DefaultMode
	}
	if !ct.CertMode.Set && ct.CertMode.FileMode == 0 {
		ct.CertMode.FileMode = ct.Mode.FileMode
	}
	if !ct.DirMode.Set && ct.DirMode.FileMode == 0 {
		ct.DirMode.FileMode = DefaultDirMode
	}
	defStr(&ct.KeyFormat, DefaultKeyFormat)
	if is := c.Issuers[ct.Issuer]; is != nil && is.Type == "step" {
		// step-ca signs with an intermediate that peers trusting only the
		// root need from the server, as `step ca certificate` bundles it.
		defStr(&ct.CertFileChain, ChainFull)
	}
	defStr(&ct.CertFileChain, ChainLeaf)
	defStr(&ct.PasswordPolicy, DefaultPasswordPolicy)
	for i := range ct.Templates {
		if m := &ct.Templates[i].Mode; !m.Set && m.FileMode == 0 {
			m.FileMode = ct.Mode.FileMode
		}
	}
	defStr(&ct.Action, DefaultAction)
	defDur(&ct.Settle, DefaultSettle)
	defDur(&ct.ExecTimeout, DefaultExecTimeout)
}

func defStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// defDur fills a duration that was not written in the file. A duration
// written as "0s" stays zero (Set is true), so Validate can reject it
// where a span is needed, or keep it where zero means "none" (settle).
func defDur(p *Duration, v time.Duration) {
	if !p.Set && p.Duration == 0 {
		p.Duration = v
	}
}

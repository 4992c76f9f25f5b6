package config

import (
	"path/filepath"
	"time"
)

// DefaultPath is where certagent looks for its config; drop-ins are read
// from conf.d/ next to it.
const DefaultPath = "/etc/certagent/certagent.toml"

// Default values, documented in docs/configuration.md.
const (
	DefaultStateDir          = "/var/lib/certagent"
	DefaultControlSocket     = "/run/certagent/control.sock"
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
	DefaultCRLValidity       = 7 * 24 * time.Hour
	// CRLActionNone leaves the units alone when only the CRL changed.
	CRLActionNone = "none"
)

// cert_file_chain values: what cert_file holds.
const (
	ChainLeaf         = "leaf"           // the leaf only
	ChainFull         = "full"           // leaf, then the intermediates
	ChainFullWithRoot = "full_with_root" // leaf, intermediates, then the issuer's root
)

// defaultControlSocket is DefaultControlSocket for the default state_dir
// and control.sock inside any other: a second daemon on the host (its own
// config and state_dir, or a test's) then never meets the first one's
// socket, and its one-shot commands find it through the same config. A
// path too long for a Unix socket falls back to DefaultControlSocket.
func defaultControlSocket(stateDir string) string {
	if !filepath.IsAbs(stateDir) || filepath.Clean(stateDir) == DefaultStateDir {
		return DefaultControlSocket
	}
	if p := filepath.Join(stateDir, "control.sock"); len(p) <= maxSocketPath {
		return p
	}
	return DefaultControlSocket
}

// ApplyDefaults fills every unset key with its documented default. It
// only fills absent values; anything set in the file is left for Validate
// to judge. It is idempotent.
func ApplyDefaults(c *Config) {
	a := &c.Agent
	defStr(&a.StateDir, DefaultStateDir)
	if a.ControlSocket == "" {
		a.ControlSocket = defaultControlSocket(a.StateDir)
	}
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
			defDur(&is.CRLValidity, DefaultCRLValidity)
			rotationDefaults(is)
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
	for name, ct := range c.Certs {
		if ct != nil {
			certDefaults(c, ct)
			if ct.PKCS12Iterations == 0 && !c.written("certs", name, "pkcs12_iterations") {
				ct.PKCS12Iterations = DefaultPKCS12Iterations
			}
		}
	}
	notifyDefaults(c)
	for _, w := range c.Watch {
		if w == nil {
			continue
		}
		defStr(&w.Action, DefaultAction)
		defDur(&w.ExecTimeout, DefaultExecTimeout)
	}
}

func certDefaults(c *Config, ct *Cert) {
	normalizeIssuers(ct)
	applyPreset(c, ct)
	if ct.Usage == nil {
		ct.Usage = []string{"server"}
	}
	defStr(&ct.KeyType, DefaultKeyType)
	if c.issuerOfType(ct, "local") != nil {
		defDur(&ct.Validity, DefaultLocalCertValidity)
	}
	defStr(&ct.FallbackWait, DefaultFallbackWait)
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
	if ct.CRLFile != "" && ct.CRLAction == "" {
		// A CRL re-signed every few days must not restart a service;
		// one that reloads its certs re-reads its CRL the same way.
		ct.CRLAction = CRLActionNone
		if ct.Action == "reload" {
			ct.CRLAction = "reload"
		}
	}
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

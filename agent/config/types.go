// Package config is certagent's configuration model and its pipeline:
// Decode (strict TOML) → Defaults → Validate. The types here are the user
// contract documented in docs/configuration.md.
//
// It is the only place that applies defaults and validates: the issuers
// (acme, localca) and the agent receive a Config that went through
// Load or Parse and check none of it again; the defaults of config keys
// are defined here (the Default* constants).
package config

import (
	"net"
	"os"
	"time"
)

// Config is the merged configuration of the main file and its drop-ins.
type Config struct {
	Agent   Agent              `toml:"agent"`
	Issuers map[string]*Issuer `toml:"issuers"`
	Certs   map[string]*Cert   `toml:"certs"`
	Watch   map[string]*Watch  `toml:"watch"`
	// Notify names the targets of notifications (agent/notify).
	Notify map[string]*Notify `toml:"notify"`

	// Files lists the files the config was loaded from, in merge order.
	Files []string `toml:"-"`

	// src records where each key was defined, for error messages; nil for
	// a Config built in code.
	src *sources
}

// Agent holds daemon-wide settings.
type Agent struct {
	StateDir           string   `toml:"state_dir"`
	CheckInterval      Duration `toml:"check_interval"`
	WarnBefore         Duration `toml:"warn_before"`
	LogLevel           string   `toml:"log_level"`
	LogFormat          string   `toml:"log_format"`
	MetricsListen      string   `toml:"metrics_listen"`
	MetricsAllowRemote bool     `toml:"metrics_allow_remote"`
	// ControlSocket is the root-only Unix socket through which one-shot
	// commands (renew, status, reload) reach a running daemon.
	ControlSocket string `toml:"control_socket"`
	// MinRSABits and AllowedKeyTypes are policy for certs on disk.
	MinRSABits      int      `toml:"min_rsa_bits"`
	AllowedKeyTypes []string `toml:"allowed_key_types"`
}

// Issuer is one [issuers.NAME] table. Type selects which fields apply.
type Issuer struct {
	Name string `toml:"-"`
	Type string `toml:"type"` // "local" | "acme" | "step"

	// type = "local"
	KeyType    string   `toml:"key_type"`
	CommonName string   `toml:"common_name"`
	Validity   Duration `toml:"validity"`
	// CRLValidity is the signed CRL's lifetime (default 7d); CRLURL, when
	// set, is written as the CRL Distribution Point into issued leaves.
	CRLValidity Duration `toml:"crl_validity"`
	CRLURL      string   `toml:"crl_url"`
	// RotateAt is the share of the CA certificate's life after which a
	// rotation starts on its own (default 2/3); Overlap is how long both
	// roots stay in every ca_file once published (default: the longest
	// leaf validity among the issuer's certs); CAKeyAfterRotation is
	// "delete" (default) or "keep". See docs/local-ca.md.
	RotateAt           Fraction `toml:"rotate_at"`
	Overlap            Duration `toml:"overlap"`
	CAKeyAfterRotation string   `toml:"ca_key_after_rotation"`

	// type = "acme"
	Directory         string   `toml:"directory"`
	InsecureDirectory bool     `toml:"insecure_directory"` // allow http:// (tests only)
	Email             string   `toml:"email"`
	CABundle          string   `toml:"ca_bundle"`
	Challenge         string   `toml:"challenge"` // http-01 | tls-alpn-01 | dns-01
	HTTPListen        string   `toml:"http_listen"`
	Webroot           string   `toml:"webroot"`
	TLSListen         string   `toml:"tls_listen"`
	DNSProvider       string   `toml:"dns_provider"`
	DNSEnvFile        string   `toml:"dns_env_file"`
	DNSResolvers      []string `toml:"dns_resolvers"`
	Profile           string   `toml:"profile"`
	ARI               *bool    `toml:"ari"` // nil: default true
	EABKID            string   `toml:"eab_kid"`
	EABHMACFile       string   `toml:"eab_hmac_file"`
	MaxConcurrent     int      `toml:"max_concurrent"`

	// type = "step" (step-ca's native API; see docs/cluster.md)
	CAURL           string `toml:"ca_url"`
	RootFingerprint string `toml:"root_fingerprint"` // SHA-256 hex of the root
	RootFile        string `toml:"root_file"`
	TokenFile       string `toml:"token_file"` // one-time token, first issuance only
}

// Cert is one [certs.NAME] table: a certificate certagent manages.
type Cert struct {
	Name string `toml:"-"`

	// IssuerList is the issuer key: "NAME" or ["primary", "fallback", …],
	// the issuers to try in order (see docs/configuration.md). Both forms
	// decode to a list; Defaults sets Issuer to its first entry.
	IssuerList IssuerNames `toml:"issuer"`
	// Issuer is the primary issuer, IssuerList[0]. A Cert built in code
	// may set only Issuer; Defaults then makes it the whole list.
	Issuer string `toml:"-"`
	// FallbackWait is how long a CA's Retry-After may hold a renewal, as
	// a share of the cert's remaining lifetime ("10%"), before the next
	// issuer of the list is tried.
	FallbackWait string `toml:"fallback_wait"`

	CommonName  string   `toml:"common_name"`
	DNSNames    []string `toml:"dns_names"`
	IPAddresses []string `toml:"ip_addresses"`
	Usage       []string `toml:"usage"` // server | client
	KeyType     string   `toml:"key_type"`
	Validity    Duration `toml:"validity"`
	RenewBefore string   `toml:"renew_before"` // "", "20d" or "33%"
	// ReuseKey keeps the key on disk across renewals while it is still of
	// key_type and within policy (DANE/TLSA, pinned keys); a step issuer
	// then renews with /1.0/renew instead of /1.0/rekey.
	ReuseKey bool `toml:"reuse_key"`

	CertFile      string `toml:"cert_file"`
	KeyFile       string `toml:"key_file"`
	FullchainFile string `toml:"fullchain_file"`
	ChainFile     string `toml:"chain_file"`
	CAFile        string `toml:"ca_file"`

	Owner             string   `toml:"owner"`
	Group             string   `toml:"group"`
	Mode              FileMode `toml:"mode"`      // keys (and everything, by default)
	CertMode          FileMode `toml:"cert_mode"` // public files; default = Mode
	DirMode           FileMode `toml:"dir_mode"`  // created output dirs; default 0755
	AllowInsecureMode bool     `toml:"allow_insecure_mode"`
	FollowSymlinks    bool     `toml:"follow_symlinks"`

	Units           []string `toml:"units"`
	Action          string   `toml:"action"` // restart | reload | try-restart | reload-or-restart
	StartIfInactive bool     `toml:"start_if_inactive"`
	Rollback        bool     `toml:"rollback"`
	// RemoveKeyAfterStart deletes key_file once the units are active
	// (MindIO). It sits with the other bools: padding after a lone bool
	// put Cert in a 1,024-byte heap size class instead of 896.
	RemoveKeyAfterStart bool     `toml:"remove_key_after_start"`
	Settle              Duration `toml:"settle"`
	Exec                []string `toml:"exec"`
	ExecTimeout         Duration `toml:"exec_timeout"`
	// PreExec runs before a new pair replaces the files; OnFailure after
	// a failed renewal or rollback (docs/configuration.md, "Hooks").
	PreExec   []string `toml:"pre_exec"`
	OnFailure []string `toml:"on_failure"`

	// Output formats (issue 6; see docs/configuration.md).
	KeyFormat                string     `toml:"key_format"`      // pkcs8 | pkcs1 | sec1
	CertFileChain            string     `toml:"cert_file_chain"` // leaf | full | full_with_root
	KeyPasswordCredential    string     `toml:"key_password_credential"`
	KeyPasswordFile          string     `toml:"key_password_file"`
	PasswordPolicy           string     `toml:"password_policy"` // none | strong
	PKCS12File               string     `toml:"pkcs12_file"`
	PKCS12PasswordCredential string     `toml:"pkcs12_password_credential"`
	PKCS12PasswordFile       string     `toml:"pkcs12_password_file"`
	PKCS12Iterations         int        `toml:"pkcs12_iterations"` // PBKDF2 count of key bag and MAC
	BundleFile               string     `toml:"bundle_file"`
	Templates                []Template `toml:"templates"`
	TLSInfoFile              string     `toml:"tls_info_file"`
	TLSInfoCRLFiles          []string   `toml:"tls_info_crl_files"`
	TLSInfoPackagePath       string     `toml:"tls_info_package_path"`
	Preset                   string     `toml:"preset"` // determined | flower | openfl | vega | mindio

	// CRLFile receives the issuer's current CRL (PEM); CRLAction is done
	// to the units when it changes: none | reload | restart | try-restart
	// | reload-or-restart (default reload when action is reload, else none).
	CRLFile   string `toml:"crl_file"`
	CRLAction string `toml:"crl_action"`

	// PresetNotes lists, one line each, the defaults the preset filled
	// in; `certagent check --explain` prints them.
	PresetNotes []string `toml:"-"`

	// Resolved by Validate; not part of the file format.
	IPs []net.IP `toml:"-"`
	// UID and GID are the owner and group to give written files; -1 when
	// owner/group is unset, meaning "leave as the agent's own" (root).
	UID int `toml:"-"`
	GID int `toml:"-"`
	// RenewBeforeDuration and RenewBeforeFraction are renew_before parsed:
	// "20d" sets the duration, "33%" sets the fraction to 0.33, "" leaves
	// both zero (the default lifetime policy applies).
	RenewBeforeDuration time.Duration `toml:"-"`
	RenewBeforeFraction float64       `toml:"-"`
	// FallbackWaitFraction is fallback_wait parsed (0.10 for "10%").
	FallbackWaitFraction float64 `toml:"-"`

	// siblings are all certs of the validated config, for templates.
	siblings map[string]*Cert
}

// Siblings returns every cert of the config this cert was validated in
// (itself included), so that templates can name other certs' files; nil
// before Validate.
func (c *Cert) Siblings() map[string]*Cert { return c.siblings }

// Template is one [[certs.NAME.templates]] entry: a Go text/template
// file rendered with the cert's paths and dates and written with the
// cert's other files.
type Template struct {
	Source string   `toml:"source"`
	Dest   string   `toml:"dest"`
	Mode   FileMode `toml:"mode"` // default: the cert's mode
}

// Watch is one [watch.NAME] table: files another tool writes, which
// certagent only watches and reacts to.
type Watch struct {
	Name        string   `toml:"-"`
	CertFile    string   `toml:"cert_file"`
	KeyFile     string   `toml:"key_file"`
	Units       []string `toml:"units"`
	Action      string   `toml:"action"`
	Exec        []string `toml:"exec"`
	ExecTimeout Duration `toml:"exec_timeout"`
}

// FileMode is a permission mode written as an octal string, e.g. "0600".
type FileMode struct {
	os.FileMode
	Set bool // false when the key was absent
}

func osMode(v uint64) os.FileMode { return os.FileMode(v) & os.ModePerm }

package config

import (
	"fmt"
	"time"
)

// Presets lists the valid preset values.
var Presets = []string{"determined", "flower", "openfl", "vega", "mindio"}

// presetRule is one requirement a preset adds. check returns the key to
// blame and what is wrong, or "" when the cert complies.
type presetRule struct {
	text  string
	check func(c *Config, ct *Cert) (key, msg, fix string)
}

// presetDef is a preset: which system it serves, the defaults it fills
// and the rules it adds. Nothing else changes behaviour.
type presetDef struct {
	system   string
	defaults func(c *Config, ct *Cert) []string
	rules    []presetRule
}

var presets = map[string]presetDef{
	"determined": {"Determined AI master (seed 002)", determinedDefaults, []presetRule{
		{"at least one DNS name: Fluent Bit inside Determined cannot verify an IP-only cert; agents set security.tls.master_cert_name to it", needDNSName},
		{"ca_file when the issuer is local: agents trust it through security.tls.master_cert", needCAFileLocal},
	}},
	"flower": {"Flower SuperLink/SuperNode AppIo and Fleet APIs (seed 003)", nil, []presetRule{
		{"ca_file: passed as --ssl-ca-certfile, --appio-ssl-ca-certfile and --root-certificates", needCAFile},
		{"at least one ip_addresses entry: Flower is reached by IP (e.g. 127.0.0.1) and needs a matching IP SAN", needIP},
		{"usage includes server", needServer},
		{"a distinct key per service: certagent makes a fresh key for every cert and rejects a key_file shared by two certs", nil},
	}},
	"openfl": {"OpenFL aggregator and collaborators (seed 004)", openflDefaults, []presetRule{
		{"ca_file: the federation's trust anchor, for mutual TLS", needCAFile},
		{"validity of at most 365d from a local issuer, as step-ca issues for OpenFL", maxYear},
	}},
	"vega": {"Vega evaluate_service and dask (seed 001)", vegaDefaults, []presetRule{
		{"key_type rsa3072 or rsa4096 (the Vega guide asks for RSA keys of 3072 bits or more)", vegaKeyType},
		{"a local issuer with an RSA key of 3072 bits or more", vegaIssuer},
		{"an encrypted key: key_password_credential or key_password_file", needPassword},
		{`password_policy = "strong"`, needStrong},
		{"ca_file: ca_cert in server.ini, client.ini and vega.ini", needCAFile},
	}},
	"mindio": {"MindIO TFT controller and processors (seed 000)", nil, []presetRule{
		{"key_type ec256, ec384, rsa3072 or rsa4096 (industry-recognized key lengths)", mindioKeyType},
		{"an encrypted key: key_password_credential or key_password_file (tlsPkPwd)", needPassword},
		{"tls_info_file: the tls_info string for tft_start_controller/tft_init_processor", needTLSInfo},
		{"ca_file: tlsCaPath and tlsCaFile", needCAFile},
	}},
}

// applyPreset fills the preset's defaults for keys the file left unset,
// recording each in ct.PresetNotes. It runs before the generic defaults.
func applyPreset(c *Config, ct *Cert) {
	ct.PresetNotes = nil
	p, ok := presets[ct.Preset]
	if !ok || p.defaults == nil {
		return
	}
	ct.PresetNotes = p.defaults(c, ct)
}

func isLocal(c *Config, ct *Cert) bool {
	is := c.Issuers[ct.Issuer]
	return is != nil && is.Type == "local"
}

func determinedDefaults(c *Config, ct *Cert) []string {
	if ct.CertFileChain != "" {
		return nil
	}
	if isLocal(c, ct) {
		ct.CertFileChain = ChainFullWithRoot
		return []string{`cert_file_chain = "full_with_root": Determined wants a chain that goes up to the root when the CA is not well known`}
	}
	ct.CertFileChain = ChainFull
	return []string{`cert_file_chain = "full": Determined wants the full chain in security.tls.cert`}
}

func openflDefaults(c *Config, ct *Cert) []string {
	if is := c.Issuers[ct.Issuer]; is != nil && is.Type == "step" && ct.KeyType == "" {
		ct.KeyType = "ec384"
		return []string{`key_type = "ec384": fx pki certify makes EC P-384 keys`}
	}
	if !isLocal(c, ct) || ct.Validity.Set || ct.Validity.Duration != 0 {
		return nil
	}
	ct.Validity.Duration = 365 * 24 * time.Hour
	return []string{`validity = "365d": OpenFL certificates are valid for one year`}
}

func vegaDefaults(c *Config, ct *Cert) []string {
	var notes []string
	if ct.KeyType == "" {
		ct.KeyType = "rsa3072"
		notes = append(notes, `key_type = "rsa3072": the Vega guide asks for RSA keys of 3072 bits or more`)
	}
	if ct.PasswordPolicy == "" {
		ct.PasswordPolicy = "strong"
		notes = append(notes, `password_policy = "strong": at least 8 characters with upper, lower, digit and special characters`)
	}
	return notes
}

func needDNSName(_ *Config, ct *Cert) (string, string, string) {
	if len(ct.DNSNames) > 0 {
		return "", "", ""
	}
	return "dns_names", "needs at least one DNS name, because Fluent Bit in Determined cannot verify a cert by IP address",
		`add a host name, e.g. dns_names = ["det.example.com"], and set the agents' security.tls.master_cert_name to it`
}

func needCAFileLocal(c *Config, ct *Cert) (string, string, string) {
	if !isLocal(c, ct) {
		return "", "", ""
	}
	return needCAFile(c, ct)
}

func needCAFile(_ *Config, ct *Cert) (string, string, string) {
	if ct.CAFile != "" {
		return "", "", ""
	}
	return "ca_file", "needs ca_file, the CA certificate the peers verify with", `add e.g. ca_file = "/etc/myservice/tls/ca.crt"`
}

func needIP(_ *Config, ct *Cert) (string, string, string) {
	if len(ct.IPAddresses) > 0 {
		return "", "", ""
	}
	return "ip_addresses", "needs at least one IP address, because Flower connects by IP and checks the IP SAN",
		`add the address in use, e.g. ip_addresses = ["127.0.0.1"]`
}

func needServer(_ *Config, ct *Cert) (string, string, string) {
	if ct.ServerAuth() {
		return "", "", ""
	}
	return "usage", "needs usage \"server\": every Flower certificate serves an API", `use usage = ["server"]`
}

func maxYear(c *Config, ct *Cert) (string, string, string) {
	if !isLocal(c, ct) || ct.Validity.Duration <= 365*24*time.Hour {
		return "", "", ""
	}
	return "validity", fmt.Sprintf("validity %s is longer than one year", fmtDays(ct.Validity.Duration)), `use validity = "365d" or less`
}

func vegaKeyType(_ *Config, ct *Cert) (string, string, string) {
	if ct.KeyType == "rsa3072" || ct.KeyType == "rsa4096" {
		return "", "", ""
	}
	return "key_type", fmt.Sprintf("key type %s is not RSA of 3072 bits or more", ct.KeyType), `use key_type = "rsa3072" or "rsa4096"`
}

func vegaIssuer(c *Config, ct *Cert) (string, string, string) {
	is := c.Issuers[ct.Issuer]
	if is == nil || (is.Type == "local" && (is.KeyType == "rsa3072" || is.KeyType == "rsa4096")) {
		return "", "", ""
	}
	if is.Type != "local" {
		return "issuer", fmt.Sprintf("issuer %q is not a local CA; Vega uses its own CA", is.Name), `use an issuer with type = "local"`
	}
	return "issuer", fmt.Sprintf("issuer %q has key type %s, not RSA of 3072 bits or more", is.Name, is.KeyType),
		fmt.Sprintf(`set key_type = "rsa3072" or "rsa4096" in [issuers.%s] (before its CA is first created)`, is.Name)
}

func needPassword(_ *Config, ct *Cert) (string, string, string) {
	if ct.KeyPasswordCredential != "" || ct.KeyPasswordFile != "" {
		return "", "", ""
	}
	return "key_password_credential", "needs an encrypted key",
		`add key_password_credential = "NAME" and LoadCredentialEncrypted=NAME:… to certagent.service, or key_password_file`
}

func needStrong(_ *Config, ct *Cert) (string, string, string) {
	if ct.PasswordPolicy == "strong" {
		return "", "", ""
	}
	return "password_policy", fmt.Sprintf("password_policy %s is not \"strong\"", quoteShort(ct.PasswordPolicy)), `use password_policy = "strong" or leave it unset`
}

func mindioKeyType(_ *Config, ct *Cert) (string, string, string) {
	switch ct.KeyType {
	case "ec256", "ec384", "rsa3072", "rsa4096":
		return "", "", ""
	}
	return "key_type", fmt.Sprintf("key type %s is not one of ec256, ec384, rsa3072, rsa4096", ct.KeyType), `use key_type = "ec256" or "rsa3072"`
}

func needTLSInfo(_ *Config, ct *Cert) (string, string, string) {
	if ct.TLSInfoFile != "" {
		return "", "", ""
	}
	return "tls_info_file", "needs tls_info_file, the tls_info string MindIO TFT reads", `add e.g. tls_info_file = "/etc/mindio/tls/tls_info"`
}

// presetRules validates ct against its preset's rules.
func (v *validator) presetRules(ct *Cert, at func(string, *valueError)) {
	if ct.Preset == "" {
		return
	}
	p, ok := presets[ct.Preset]
	if !ok {
		at("preset", oneOf(ct.Preset, "preset", Presets))
		return
	}
	for _, r := range p.rules {
		if r.check == nil {
			continue
		}
		if key, msg, fix := r.check(v.c, ct); key != "" {
			at(key, badValue(fix, "preset %q %s", ct.Preset, msg))
		}
	}
}

// Explain describes, per cert with a preset, the defaults the preset
// filled in and the rules it enforces: what `certagent check --explain`
// prints. Certs without a preset get one line saying so.
func Explain(c *Config) []string {
	var out []string
	for _, name := range c.CertNames() {
		ct := c.Certs[name]
		p, ok := presets[ct.Preset]
		if !ok {
			out = append(out, fmt.Sprintf("cert %q: no preset", name))
			continue
		}
		out = append(out, fmt.Sprintf("cert %q: preset %q for %s", name, ct.Preset, p.system))
		if len(ct.PresetNotes) == 0 {
			out = append(out, "  sets: nothing")
		}
		for _, n := range ct.PresetNotes {
			out = append(out, "  sets: "+n)
		}
		for _, r := range p.rules {
			out = append(out, "  requires: "+r.text)
		}
	}
	return out
}

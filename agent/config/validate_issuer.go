package config

import (
	"fmt"
	"strings"
)

func (v *validator) issuer(name string, is *Issuer) {
	path := []string{"issuers", name}
	section := fmt.Sprintf("issuer %q", name)
	at := func(key string, ve *valueError) {
		if ve != nil {
			v.errAt(path, section, key, ve)
		}
	}
	at("", checkName(name))
	switch is.Type {
	case "local":
		v.localIssuer(is, at)
	case "acme":
		v.acmeIssuer(is, at)
	case "step":
		v.stepIssuer(is, at)
	case "":
		at("type", badValue(`add type = "local", "acme" or "step"`, "missing issuer type"))
	default:
		at("type", badValue(`use type = "local", "acme" or "step"`, "unknown issuer type %s", quoteShort(is.Type)))
	}
	if is.Type != "step" {
		onlyStep(is, at)
	}
	if is.Type != "local" {
		onlyLocalRotation(is, at)
	}
}

func (v *validator) localIssuer(is *Issuer, at func(string, *valueError)) {
	at("key_type", v.keyType(is.KeyType))
	if is.CommonName == "" || len(is.CommonName) > 64 {
		at("common_name", badValue("use a name of 1 to 64 characters", "invalid CA common name %s", quoteShort(is.CommonName)))
	}
	if is.Validity.Duration < minCAValidity {
		at("validity", badValue(`use at least "1h"; the default is "3650d"`, "CA validity %s is shorter than 1h", is.Validity.Duration))
	}
	v.crlIssuer(is, at)
	rotationIssuer(is, at)
	noACMEKeys(is, at)
	if is.MaxConcurrent != 0 {
		at("max_concurrent", badValue(`remove it, or use type = "acme"`, "max_concurrent only applies to acme issuers"))
	}
}

// noACMEKeys flags the ACME-only keys in an issuer of another type.
func noACMEKeys(is *Issuer, at func(string, *valueError)) {
	onlyACME := func(key string, set bool) {
		if set {
			at(key, badValue(`remove it, or use type = "acme"`, "%s only applies to acme issuers", key))
		}
	}
	onlyACME("directory", is.Directory != "")
	onlyACME("insecure_directory", is.InsecureDirectory)
	onlyACME("email", is.Email != "")
	onlyACME("ca_bundle", is.CABundle != "")
	onlyACME("challenge", is.Challenge != "")
	onlyACME("http_listen", is.HTTPListen != "")
	onlyACME("webroot", is.Webroot != "")
	onlyACME("tls_listen", is.TLSListen != "")
	onlyACME("dns_provider", is.DNSProvider != "")
	onlyACME("dns_env_file", is.DNSEnvFile != "")
	onlyACME("dns_resolvers", is.DNSResolvers != nil)
	onlyACME("profile", is.Profile != "")
	onlyACME("ari", is.ARI != nil)
	onlyACME("eab_kid", is.EABKID != "")
	onlyACME("eab_hmac_file", is.EABHMACFile != "")
}

func (v *validator) acmeIssuer(is *Issuer, at func(string, *valueError)) {
	for key, set := range map[string]bool{"key_type": is.KeyType != "", "common_name": is.CommonName != "", "validity": is.Validity.Set,
		"crl_validity": is.CRLValidity.Set, "crl_url": is.CRLURL != ""} {
		if set {
			at(key, badValue(`remove it; the ACME CA decides its own keys, names and lifetimes`, "%s only applies to local issuers", key))
		}
	}
	if is.Directory == "" {
		at("directory", badValue(`add e.g. directory = "https://acme-v02.api.letsencrypt.org/directory"`, "missing ACME directory URL"))
	} else {
		at("directory", checkDirectoryURL(is.Directory, is.InsecureDirectory))
	}
	if is.Email != "" && (strings.Count(is.Email, "@") != 1 || strings.ContainsAny(is.Email, " \t\r\n<>") ||
		strings.HasPrefix(is.Email, "@") || strings.HasSuffix(is.Email, "@")) {
		at("email", badValue(`use a plain address such as "ops@example.com"`, "invalid email %s", quoteShort(is.Email)))
	}
	v.inputFile(at, "ca_bundle", is.CABundle, false)
	at("challenge", oneOf(is.Challenge, "challenge", challenges))
	at("http_listen", checkHostPort(is.HTTPListen, false))
	at("tls_listen", checkHostPort(is.TLSListen, false))
	if is.Webroot != "" {
		if is.Challenge != "http-01" {
			at("webroot", badValue(`remove it, or use challenge = "http-01"`, "webroot only applies to the http-01 challenge"))
		} else {
			v.inputDir(at, "webroot", is.Webroot)
		}
	}
	v.dns01(is, at)
	for _, r := range is.DNSResolvers {
		at("dns_resolvers", checkHostPort(r, false))
	}
	if strings.ContainsFunc(is.Profile, func(r rune) bool { return r <= ' ' || r == 0x7f }) || len(is.Profile) > 64 {
		at("profile", badValue(`use the CA's profile name, e.g. "tlsserver" or "shortlived"`, "invalid profile %s", quoteShort(is.Profile)))
	}
	switch {
	case is.EABKID != "" && is.EABHMACFile == "":
		at("eab_hmac_file", badValue("set eab_hmac_file to the file holding the CA's HMAC key", "eab_kid is set but eab_hmac_file is not"))
	case is.EABKID == "" && is.EABHMACFile != "":
		at("eab_kid", badValue("set eab_kid to the key id the CA gave you", "eab_hmac_file is set but eab_kid is not"))
	}
	v.inputFile(at, "eab_hmac_file", is.EABHMACFile, true)
	if is.MaxConcurrent < 1 || is.MaxConcurrent > 64 {
		at("max_concurrent", badValue("use a value from 1 to 64; the default is 4", "max_concurrent %d is out of range", is.MaxConcurrent))
	}
}

func (v *validator) dns01(is *Issuer, at func(string, *valueError)) {
	if is.Challenge != "dns-01" {
		for key, set := range map[string]bool{"dns_provider": is.DNSProvider != "", "dns_env_file": is.DNSEnvFile != ""} {
			if set {
				at(key, badValue(`remove it, or use challenge = "dns-01"`, "%s only applies to the dns-01 challenge", key))
			}
		}
		return
	}
	switch {
	case is.DNSProvider == "":
		at("dns_provider", badValue(`name a lego DNS provider, e.g. dns_provider = "cloudflare"`, "dns-01 needs a dns_provider"))
	case v.opts.KnownDNSProvider != nil && !v.opts.KnownDNSProvider(is.DNSProvider):
		at("dns_provider", badValue("use a provider name from docs/acme.md (lego's names); route53 needs -tags dnsroute53, linode -tags dnslinode, any other provider outside the default build -tags dnsall", "unknown dns provider %s", quoteShort(is.DNSProvider)))
	}
	v.inputFile(at, "dns_env_file", is.DNSEnvFile, true)
}

// inputFile checks a file certagent reads: it follows the trust rule,
// and secret files must also be private (see checkSecretFile).
func (v *validator) inputFile(at func(string, *valueError), key, p string, secret bool) {
	if p == "" {
		return
	}
	if ve := checkPath(p); ve != nil {
		at(key, ve)
		return
	}
	if v.opts.SkipFileChecks {
		return
	}
	if secret {
		at(key, checkSecretFile(p))
		return
	}
	at(key, checkReadableFile(p))
}

func (v *validator) inputDir(at func(string, *valueError), key, p string) {
	if ve := checkPath(p); ve != nil {
		at(key, ve)
		return
	}
	if !v.opts.SkipFileChecks {
		at(key, checkDir(p))
	}
}

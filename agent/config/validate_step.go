package config

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// stepKeys are the issuer keys that only a step issuer reads.
var stepKeys = []string{"ca_url", "root_fingerprint", "root_file", "token_file"}

// stepIssuer checks an [issuers.NAME] table with type = "step": step-ca's
// native API (docs/cluster.md). It normalizes root_fingerprint to lower
// case hex without colons, the form `step certificate fingerprint` prints.
func (v *validator) stepIssuer(is *Issuer, at func(string, *valueError)) {
	for key, set := range map[string]bool{"key_type": is.KeyType != "", "common_name": is.CommonName != "", "validity": is.Validity.Set} {
		if set {
			at(key, badValue("remove it; set key_type and validity on the cert, step-ca decides the rest",
				"%s only applies to local issuers", key))
		}
	}
	noACMEKeys(is, at)
	at("ca_url", checkCAURL(is.CAURL))
	if is.RootFingerprint != "" {
		fp, ve := normalFingerprint(is.RootFingerprint)
		at("root_fingerprint", ve)
		if ve == nil {
			is.RootFingerprint = fp
		}
		if is.RootFile != "" {
			at("root_file", badValue("keep one of them: the fingerprint fetches the root, the file is the root",
				"root_file and root_fingerprint are both set"))
		}
	}
	v.inputFile(at, "root_file", is.RootFile, false)
	if is.TokenFile != "" {
		at("token_file", checkPath(is.TokenFile))
		// The token is absent once used; only a token that is there must
		// be private, as it lets anyone holding it enroll. Its directory
		// must be root's either way: certagent deletes the token there.
		switch {
		case v.opts.SkipFileChecks:
		case fileExists(is.TokenFile):
			at("token_file", checkSecretFile(is.TokenFile))
		default:
			at("token_file", checkTrustedDirs(filepath.Dir(is.TokenFile)))
		}
	}
	if is.MaxConcurrent < 1 || is.MaxConcurrent > 64 {
		at("max_concurrent", badValue("use a value from 1 to 64; the default is 4", "max_concurrent %d is out of range", is.MaxConcurrent))
	}
}

// onlyStep flags step keys in an issuer of another type.
func onlyStep(is *Issuer, at func(string, *valueError)) {
	vals := []string{is.CAURL, is.RootFingerprint, is.RootFile, is.TokenFile}
	for i, key := range stepKeys {
		if vals[i] != "" {
			at(key, badValue(`remove it, or use type = "step"`, "%s only applies to step issuers", key))
		}
	}
}

// checkCAURL accepts step-ca's base URL: https only, since the root it
// pins is what the connection is verified with.
func checkCAURL(s string) *valueError {
	if s == "" {
		return badValue(`add e.g. ca_url = "https://ca.cluster.internal:9000"`, "missing step-ca URL")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil || u.Host == "" || u.Opaque != "":
		return badValue(`use the CA's URL, e.g. "https://ca.cluster.internal:9000"`, "bad ca_url %s", quoteShort(s))
	case u.Scheme != "https":
		return badValue("use https://; step-ca only serves its API over TLS", "ca_url %s is not https", quoteShort(s))
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return badValue(`use only scheme, host, port and path, e.g. "https://ca.cluster.internal:9000"`,
			"ca_url %s has a user, query or fragment", quoteShort(s))
	}
	return nil
}

// normalFingerprint returns a SHA-256 fingerprint as 64 lower-case hex
// digits, accepting upper case and colon separators.
func normalFingerprint(s string) (string, *valueError) {
	fp := strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), ":", ""))
	if b, err := hex.DecodeString(fp); err != nil || len(b) != 32 {
		return "", badValue("use the SHA-256 fingerprint `step certificate fingerprint root_ca.crt` prints (64 hex digits)",
			"root_fingerprint %s is not a SHA-256 fingerprint", quoteShort(s))
	}
	return fp, nil
}

// stepCert checks the cert keys that depend on a step issuer.
func (v *validator) stepCert(ct *Cert, is *Issuer, at func(string, *valueError)) {
	if is == nil || is.Type != "step" {
		if ct.ReuseKey {
			at("reuse_key", badValue("remove it; other issuers always make a new key", "reuse_key only applies to certs from a step issuer"))
		}
		return
	}
	if ct.RemoveKeyAfterStart {
		at("remove_key_after_start", badValue("remove remove_key_after_start, or use another issuer",
			"a step issuer renews over mutual TLS with the current key, which remove_key_after_start deletes"))
	}
	if ct.Validity.Set && ct.Validity.Duration < minCertValidity {
		at("validity", badValue(`use at least "1m", or leave it unset for step-ca's default`, "validity %s is shorter than 1m", ct.Validity.Duration))
	}
	if is.TokenFile == "" {
		return
	}
	for _, name := range sortedKeys(v.c.Certs) {
		if other := v.c.Certs[name]; other != nil && other != ct && other.Issuer == ct.Issuer {
			if name < ct.Name {
				at("issuer", badValue("give each cert its own [issuers.NAME] with its own token_file",
					"issuer %q's one-time token enrolls one cert, and cert %q uses it too", is.Name, name))
			}
			return
		}
	}
}

// fileExists reports whether p is there; any error other than "not
// found" counts as there, so the secret-file check reports it.
func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return !errors.Is(err, fs.ErrNotExist)
}

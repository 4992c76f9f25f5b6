package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/internal/trust"
)

var (
	keyFormats     = []string{"pkcs8", "pkcs1", "sec1"}
	chainModes     = []string{ChainLeaf, ChainFull, ChainFullWithRoot}
	passwordPolicy = []string{formats.PolicyNone, formats.PolicyStrong}
)

// PKCS#12 PBKDF2 iteration bounds: the default matches the encrypted
// PKCS#8 key (the .p12 often shares its password, so it must not be the
// cheaper one to brute-force); below MinPKCS12Iterations is refused.
const (
	DefaultPKCS12Iterations = formats.PBKDF2Iterations
	MinPKCS12Iterations     = 10_000
	MaxPKCS12Iterations     = 10_000_000
)

// MaxTemplateSize bounds a template source; templates are small config
// snippets.
const MaxTemplateSize = 1 << 20

// KeyPassword is where the cert's key password comes from.
func (c *Cert) KeyPassword() formats.PasswordSource {
	return formats.PasswordSource{Credential: c.KeyPasswordCredential, File: c.KeyPasswordFile}
}

// PKCS12Password is where the PKCS#12 password comes from: its own keys,
// or else the key password.
func (c *Cert) PKCS12Password() formats.PasswordSource {
	if c.PKCS12PasswordCredential != "" || c.PKCS12PasswordFile != "" {
		return formats.PasswordSource{Credential: c.PKCS12PasswordCredential, File: c.PKCS12PasswordFile}
	}
	return c.KeyPassword()
}

// formats checks the output-format keys of issue 6.
func (v *validator) formats(ct *Cert, at func(string, *valueError)) {
	at("key_format", oneOf(ct.KeyFormat, "key format", keyFormats))
	switch {
	case ct.KeyFormat == "pkcs1" && !strings.HasPrefix(ct.KeyType, "rsa"):
		at("key_format", badValue(`use key_format = "pkcs8", or an rsa key_type`, "key format pkcs1 holds RSA keys only, not %s", ct.KeyType))
	case ct.KeyFormat == "sec1" && !strings.HasPrefix(ct.KeyType, "ec"):
		at("key_format", badValue(`use key_format = "pkcs8", or an ec key_type`, "key format sec1 holds EC keys only, not %s", ct.KeyType))
	}
	at("cert_file_chain", oneOf(ct.CertFileChain, "cert_file_chain", chainModes))
	at("password_policy", oneOf(ct.PasswordPolicy, "password policy", passwordPolicy))
	keyPw := v.passwordSource(ct, at, "key_password_credential", "key_password_file", ct.KeyPasswordCredential, ct.KeyPasswordFile)
	if keyPw && ct.KeyFormat != "pkcs8" {
		at("key_format", badValue(`use key_format = "pkcs8" (the default)`, "an encrypted key is always pkcs8, not %s", ct.KeyFormat))
	}
	p12Pw := v.passwordSource(ct, at, "pkcs12_password_credential", "pkcs12_password_file", ct.PKCS12PasswordCredential, ct.PKCS12PasswordFile)
	switch {
	case ct.PKCS12File != "" && !p12Pw && !keyPw:
		at("pkcs12_file", badValue("set pkcs12_password_credential or pkcs12_password_file (or key_password_*, which it then uses)", "pkcs12_file needs a password"))
	case ct.PKCS12File == "" && p12Pw:
		at("pkcs12_password_credential", badValue("remove it, or set pkcs12_file", "a pkcs12 password only applies with pkcs12_file"))
	}
	if n := ct.PKCS12Iterations; n < MinPKCS12Iterations || n > MaxPKCS12Iterations {
		at("pkcs12_iterations", badValue(fmt.Sprintf("use a count from %d to %d; the default is %d, as for the encrypted key",
			MinPKCS12Iterations, MaxPKCS12Iterations, DefaultPKCS12Iterations), "pkcs12_iterations %d is out of range", n))
	}
	if ct.PasswordPolicy == formats.PolicyStrong && !keyPw && !p12Pw {
		at("password_policy", badValue("set key_password_credential or key_password_file, or remove password_policy",
			"password_policy \"strong\" is set but no password is configured"))
	}
	v.checkPasswords(ct, at, keyPw, p12Pw)
	v.templates(ct)
	v.tlsInfo(ct, at)
	if ct.RemoveKeyAfterStart {
		switch {
		case len(ct.Units) == 0:
			at("remove_key_after_start", badValue("list the units that read the key in units", "remove_key_after_start needs units: the key is deleted once they are active"))
		case ct.BundleFile != "" || ct.PKCS12File != "":
			at("remove_key_after_start", badValue("remove bundle_file and pkcs12_file, or remove_key_after_start",
				"bundle_file and pkcs12_file keep a copy of the key that remove_key_after_start would leave behind"))
		}
	}
}

// passwordSource checks one credential/file pair and reports whether a
// password is configured.
func (v *validator) passwordSource(ct *Cert, at func(string, *valueError), credKey, fileKey, cred, file string) bool {
	if cred != "" && file != "" {
		at(fileKey, badValue(fmt.Sprintf("set either %s or %s", credKey, fileKey), "%s and %s are both set", credKey, fileKey))
	}
	if cred != "" {
		at(credKey, checkCredentialName(cred))
	}
	if file != "" {
		v.inputFile(at, fileKey, file, true)
	}
	return cred != "" || file != ""
}

// checkCredentialName accepts what systemd accepts as a credential name:
// a plain file name.
func checkCredentialName(n string) *valueError {
	if n == "." || n == ".." || len(n) > 255 || strings.ContainsAny(n, "/\x00\n\r") {
		return badValue(`use the name given to LoadCredential=, e.g. "vega-key-password"`, "invalid credential name %s", quoteShort(n))
	}
	return nil
}

// checkPasswords reads the configured passwords, when this process can,
// and applies the policy and the tls_info character rule. A credential
// is readable only inside the service ($CREDENTIALS_DIRECTORY); from a
// shell it is checked when the agent writes the key instead.
func (v *validator) checkPasswords(ct *Cert, at func(string, *valueError), keyPw, p12Pw bool) {
	if v.opts.SkipFileChecks {
		return
	}
	check := func(src formats.PasswordSource, credKey, fileKey string, tlsInfo bool) {
		key := fileKey
		if src.Credential != "" {
			key = credKey
		}
		pw, err := src.Read(v.opts.Getenv)
		switch {
		case errors.Is(err, formats.ErrNoCredentials):
			return
		case err != nil:
			at(key, badValue("make the password readable by root", "%v", err))
			return
		}
		if err := formats.CheckPolicy(ct.PasswordPolicy, pw); err != nil {
			at(key, badValue("choose a password with "+formats.StrongRule, "%s: %v", src.Describe(), err))
		}
		if tlsInfo {
			if err := formats.CheckTLSInfoValue(string(pw)); err != nil {
				at(key, badValue("choose a password without ';', ',' or ':'", "password in %s %v", src.Describe(), err))
			}
		}
	}
	if keyPw {
		check(ct.KeyPassword(), "key_password_credential", "key_password_file", ct.TLSInfoFile != "")
	}
	if p12Pw && (ct.PKCS12PasswordCredential != "" || ct.PKCS12PasswordFile != "") {
		check(ct.PKCS12Password(), "pkcs12_password_credential", "pkcs12_password_file", false)
	}
}

// templates checks each [[certs.NAME.templates]] entry; errors name the
// entry as `cert "web" template 2`.
func (v *validator) templates(ct *Cert) {
	for i := range ct.Templates {
		t := &ct.Templates[i]
		path := []string{"certs", ct.Name, "templates"}
		section := fmt.Sprintf("cert %q template %d", ct.Name, i+1)
		at := func(key string, ve *valueError) {
			if ve != nil {
				p := v.c.where(append(path, key)...)
				v.col.add(&Error{File: p.file, Line: p.line, Section: section, Key: key, Msg: ve.msg, Fix: ve.fix})
			}
		}
		if t.Source == "" {
			at("source", badValue(`add source = "/etc/certagent/templates/NAME.tmpl"`, "missing source"))
		} else if ve := checkPath(t.Source); ve != nil {
			at("source", ve)
		} else if !v.opts.SkipFileChecks {
			at("source", checkTemplateSource(t.Source, ct))
		}
		if t.Dest == "" {
			at("dest", badValue(`add dest = "/etc/myservice/tls.conf"`, "missing dest"))
		}
		switch m := t.Mode.FileMode; {
		case m&^0o777 != 0:
			at("mode", badValue(`setuid, setgid and sticky bits are not allowed; use e.g. "0600"`, "mode %04o has bits beyond 0777", uint32(m)))
		case m&0o400 == 0:
			at("mode", badValue(`include the owner's read bit, e.g. "0600"`, "mode %04o does not let the owner use the file", uint32(m)))
		}
	}
}

// checkTemplateSource reads the template the way the agent does (through
// the trust rule: root renders it into a file the service user may read,
// so a source that user could change or redirect would leak root's
// files), parses it and renders it once with the cert's real paths and
// names (dates and serial are samples), so a misspelt field or an
// unbounded loop is found at check time.
func checkTemplateSource(p string, ct *Cert) *valueError {
	src, err := trust.ReadTrusted(p, MaxTemplateSize)
	if err != nil {
		return trustError(err)
	}
	sample := ct.TemplateData()
	sample.CommonName, sample.Serial, sample.IssuerCN = ct.CommonName, "00", "sample CA"
	sample.NotBefore, sample.NotAfter = time.Unix(0, 0).UTC(), time.Unix(0, 0).UTC()
	if _, err := formats.RenderTemplate(filepath.Base(p), src, sample); err != nil {
		return badValue("fix the template; docs/configuration.md lists the fields", "%v", err)
	}
	return nil
}

// TemplateData returns what templates see that the config decides: the
// cert's name, paths, SANs and issuer, and every cert's paths. The agent
// adds the certificate's serial, dates and issuer CN at issuance.
func (c *Cert) TemplateData() formats.TemplateData {
	d := formats.TemplateData{Name: c.Name, Paths: c.paths(), DNSNames: c.DNSNames, IPAddresses: c.IPAddresses,
		Issuer: c.Issuer, Certs: map[string]formats.Paths{c.Name: c.paths()}}
	for name, s := range c.siblings {
		if s != nil {
			d.Certs[name] = s.paths()
		}
	}
	return d
}

func (c *Cert) paths() formats.Paths {
	return formats.Paths{CertFile: c.CertFile, KeyFile: c.KeyFile, FullchainFile: c.FullchainFile,
		ChainFile: c.ChainFile, CAFile: c.CAFile, BundleFile: c.BundleFile, PKCS12File: c.PKCS12File,
		TLSInfoFile: c.TLSInfoFile}
}

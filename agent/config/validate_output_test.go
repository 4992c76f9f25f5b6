package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateOutputFormats(t *testing.T) {
	W := `cert "web": `
	cases := []struct {
		name string
		kv   []string
		want []string
	}{
		{"all formats valid", []string{`key_password_file = "/etc/pw"`, `pkcs12_file = "/srv/web/web.p12"`, `bundle_file = "/srv/web/bundle.pem"`,
			`ca_file = "/srv/web/ca.pem"`, `tls_info_file = "/srv/web/tls_info"`, `tls_info_package_path = "/usr/lib"`}, nil},
		{"unknown key format", []string{`key_format = "der"`},
			[]string{W + `key "key_format": unknown key format "der" (use one of: pkcs8, pkcs1, sec1)`}},
		{"pkcs1 with ec key", []string{`key_format = "pkcs1"`},
			[]string{W + `key "key_format": key format pkcs1 holds RSA keys only, not ec256 (use key_format = "pkcs8", or an rsa key_type)`}},
		{"encrypted sec1", []string{`key_format = "sec1"`, `key_password_credential = "pw"`},
			[]string{W + `key "key_format": an encrypted key is always pkcs8, not sec1 (use key_format = "pkcs8" (the default))`}},
		{"both password sources", []string{`key_password_credential = "pw"`, `key_password_file = "/etc/pw"`},
			[]string{W + `key "key_password_file": key_password_credential and key_password_file are both set (set either key_password_credential or key_password_file)`}},
		{"credential with slash", []string{`key_password_credential = "../pw"`},
			[]string{W + `key "key_password_credential": invalid credential name "../pw" (use the name given to LoadCredential=, e.g. "vega-key-password")`}},
		{"strong without password", []string{`password_policy = "strong"`},
			[]string{W + `key "password_policy": password_policy "strong" is set but no password is configured (set key_password_credential or key_password_file, or remove password_policy)`}},
		{"pkcs12 without password", []string{`pkcs12_file = "/srv/web/web.p12"`},
			[]string{W + `key "pkcs12_file": pkcs12_file needs a password (set pkcs12_password_credential or pkcs12_password_file (or key_password_*, which it then uses))`}},
		{"tls_info needs ca and package", []string{`tls_info_file = "/srv/web/tls_info"`},
			[]string{W + `key "ca_file": tls_info_file needs ca_file for tlsCaPath and tlsCaFile (add e.g. ca_file = "/etc/mindio/tls/ca/ca.pem")`,
				W + `key "tls_info_package_path": tls_info_file needs tls_info_package_path (packagePath is required by MindIO TFT) (add the OpenSSL library directory, e.g. tls_info_package_path = "/usr/lib/x86_64-linux-gnu")`}},
		{"tls_info path with colon", []string{`tls_info_file = "/srv/web/tls_info"`, `ca_file = "/srv/web/ca:1.pem"`, `tls_info_package_path = "/usr/lib"`},
			[]string{W + `key "ca_file": path "/srv/web/ca:1.pem" contains ':', which MindIO TFT's tls_info uses as a separator (';' between fields, ',' between files, ':' after a field name) (choose a path without ';', ',' or ':'; tls_info cannot quote them)`}},
		{"crl files in two dirs", []string{`tls_info_file = "/srv/web/tls_info"`, `ca_file = "/srv/web/ca.pem"`, `tls_info_package_path = "/usr/lib"`,
			`tls_info_crl_files = ["/crl/a.pem", "/crl2/b.pem"]`},
			[]string{W + `key "tls_info_crl_files": /crl/a.pem and /crl2/b.pem are in different directories; tls_info has one directory per list (put all CRL files in one directory)`}},
		{"remove key without units", []string{`remove_key_after_start = true`},
			[]string{W + `key "remove_key_after_start": remove_key_after_start needs units: the key is deleted once they are active (list the units that read the key in units)`}},
		{"remove key with bundle", []string{`remove_key_after_start = true`, `units = ["a.service"]`, `bundle_file = "/srv/web/b.pem"`},
			[]string{W + `key "remove_key_after_start": bundle_file and pkcs12_file keep a copy of the key that remove_key_after_start would leave behind (remove bundle_file and pkcs12_file, or remove_key_after_start)`}},
		{"bundle same as key", []string{`bundle_file = "/srv/web/key.pem"`},
			[]string{W + `key "bundle_file": /srv/web/key.pem is also cert "web"'s key_file (t.toml:8) (give each cert its own output files)`}},
		{"unknown preset", []string{`preset = "ray"`},
			[]string{W + `key "preset": unknown preset "ray" (use one of: determined, flower, openfl, vega, mindio)`}},
		{"determined needs dns", []string{`preset = "determined"`, "-dns_names", `ip_addresses = ["10.0.0.5"]`, `ca_file = "/srv/web/ca.pem"`},
			[]string{W + `key "dns_names": preset "determined" needs at least one DNS name, because Fluent Bit in Determined cannot verify a cert by IP address (add a host name, e.g. dns_names = ["det.example.com"], and set the agents' security.tls.master_cert_name to it)`}},
		{"vega rules", []string{`preset = "vega"`, `key_type = "ec256"`},
			[]string{W + `key "ca_file": preset "vega" needs ca_file, the CA certificate the peers verify with (add e.g. ca_file = "/etc/myservice/tls/ca.crt")`,
				W + `key "key_password_credential": preset "vega" needs an encrypted key (add key_password_credential = "NAME" and LoadCredentialEncrypted=NAME:… to certagent.service, or key_password_file)`,
				W + `key "password_policy": password_policy "strong" is set but no password is configured (set key_password_credential or key_password_file, or remove password_policy)`,
				W + `key "issuer": preset "vega" issuer "ca" has key type ec384, not RSA of 3072 bits or more (set key_type = "rsa3072" or "rsa4096" in [issuers.ca] (before its CA is first created))`,
				W + `key "key_type": preset "vega" key type ec256 is not RSA of 3072 bits or more (use key_type = "rsa3072" or "rsa4096")`}},
		{"mindio key type", []string{`preset = "mindio"`, `key_type = "rsa2048"`, `key_password_credential = "pw"`, `ca_file = "/srv/web/ca.pem"`,
			`tls_info_file = "/srv/web/tls_info"`, `tls_info_package_path = "/usr/lib"`},
			[]string{W + `key "key_type": preset "mindio" key type rsa2048 is not one of ec256, ec384, rsa3072, rsa4096 (use key_type = "ec256" or "rsa3072")`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(certTOML(tc.kv...)), testOpts)
			sameLines(t, errLines(t, err, false), tc.want)
		})
	}
}

func TestTemplatesDecodeAndValidate(t *testing.T) {
	text := certTOML() + "[[certs.web.templates]]\nsource = \"/t/a.tmpl\"\ndest = \"/srv/web/a.conf\"\n" +
		"[[certs.web.templates]]\nsourc = \"/t/b.tmpl\"\nmode = \"0200\"\n"
	_, err := Parse("t.toml", []byte(text), testOpts)
	sameLines(t, errLines(t, err, true), []string{
		// Keys of later [[templates]] entries are located at the first
		// entry's line for the same key (the line scanner keeps the first).
		`t.toml:10: cert "web" template 2: key "source": missing source (add source = "/etc/certagent/templates/NAME.tmpl")`,
		`t.toml:11: cert "web" template 2: key "dest": missing dest (add dest = "/etc/myservice/tls.conf")`,
		`t.toml:13: cert "web" template 2: key "sourc": unknown key (did you mean "source"?)`,
		`t.toml:14: cert "web" template 2: key "mode": mode 0200 does not let the owner use the file (include the owner's read bit, e.g. "0600")`,
	})
	c, err := Parse("t.toml", []byte(certTOML(`mode = "0400"`)+"[[certs.web.templates]]\nsource = \"/t/a.tmpl\"\ndest = \"/srv/web/a.conf\"\n"), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if tp := c.Certs["web"].Templates; len(tp) != 1 || tp[0].Mode.FileMode != 0o400 || c.Certs["web"].OutputFiles()[2] != "/srv/web/a.conf" {
		t.Errorf("templates = %+v, outputs %v", tp, c.Certs["web"].OutputFiles())
	}
}

// TestPasswordChecksReadFiles: with file checks on, a weak password file
// and a bad template are reported; the password never is.
func TestPasswordChecksReadFiles(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	tmpl := filepath.Join(dir, "a.tmpl")
	if err := os.WriteFile(pw, []byte("short;1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmpl, []byte("{{.CertFle}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := testOpts
	opts.SkipFileChecks = false
	text := certTOML(`key_password_file = "`+pw+`"`, `password_policy = "strong"`, `ca_file = "/srv/web/ca.pem"`,
		`tls_info_file = "/srv/web/tls_info"`, `tls_info_package_path = "/usr/lib"`) +
		"[[certs.web.templates]]\nsource = \"" + tmpl + "\"\ndest = \"/srv/web/a.conf\"\n"
	_, err := Parse("t.toml", []byte(text), opts)
	got := errLines(t, err, false)
	sameLines(t, got, []string{
		`cert "web": key "key_password_file": file ` + pw + `: password is too weak for policy "strong": it has 7 characters, not at least 8, no upper-case letter (choose a password with at least 8 characters with an upper-case letter, a lower-case letter, a digit and a special character)`,
		`cert "web": key "key_password_file": password in file ` + pw + ` contains ';', which separates fields (';'), files (',') or names from values (':') in tls_info (choose a password without ';', ',' or ':')`,
		`cert "web" template 1: key "source": render a.tmpl: template: a.tmpl:1:2: executing "a.tmpl" at <.CertFle>: can't evaluate field CertFle in type formats.TemplateData (fix the template; docs/configuration.md lists the fields)`,
	})
	if strings.Contains(strings.Join(got, "\n"), "short;1") {
		t.Error("password in error")
	}
}

func TestExplain(t *testing.T) {
	c, err := Parse("t.toml", []byte(certTOML(`preset = "openfl"`, `ca_file = "/srv/web/ca.pem"`)), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(Explain(c), "\n")
	for _, want := range []string{`cert "web": preset "openfl" for OpenFL`, `sets: validity = "365d"`, "requires: ca_file"} {
		if !strings.Contains(got, want) {
			t.Errorf("Explain lacks %q:\n%s", want, got)
		}
	}
	if c.Certs["web"].Validity.Duration != 365*24*60*60*1e9 {
		t.Errorf("openfl validity = %v", c.Certs["web"].Validity.Duration)
	}
}

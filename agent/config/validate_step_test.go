package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const stepFP = "4f6c5d1b2a3948576a6b7c8d9e0f11223344556677889900aabbccddeeff0011"

// stepTOML is a step issuer "fl" with the given lines and a cert "web"
// using it with the given cert lines.
func stepTOML(issuer, cert string) string {
	return "[issuers.fl]\ntype = \"step\"\n" + issuer + "\n\n[certs.web]\nissuer = \"fl\"\ndns_names = [\"web.example.com\"]\n" +
		"cert_file = \"/srv/web/cert.pem\"\nkey_file = \"/srv/web/key.pem\"\n" + cert + "\n"
}

func TestValidateStepIssuer(t *testing.T) {
	good := "ca_url = \"https://ca.cluster.internal:9123\"\nroot_fingerprint = \"" + stepFP + "\"\ntoken_file = \"/var/lib/certagent/tokens/web.token\""
	L := `t.toml:%s: issuer "fl": `
	at := func(line, rest string) string { return strings.Replace(L, "%s", line, 1) + rest }
	cases := []struct {
		name, issuer, cert string
		want               []string
	}{
		{"valid", good, "", nil},
		{"valid with root_file and reuse_key", "ca_url = \"https://ca:9000\"\nroot_file = \"/etc/certagent/root.crt\"", "reuse_key = true", nil},
		{"missing url", "root_fingerprint = \"" + stepFP + "\"", "",
			[]string{at("1", `key "ca_url": missing step-ca URL (add e.g. ca_url = "https://ca.cluster.internal:9000")`)}},
		{"http url", "ca_url = \"http://ca:9000\"", "",
			[]string{at("3", `key "ca_url": ca_url "http://ca:9000" is not https (use https://; step-ca only serves its API over TLS)`)}},
		{"url with query", "ca_url = \"https://ca:9000/?x=1\"", "",
			[]string{at("3", `key "ca_url": ca_url "https://ca:9000/?x=1" has a user, query or fragment (use only scheme, host, port and path, e.g. "https://ca.cluster.internal:9000")`)}},
		{"short fingerprint", "ca_url = \"https://ca:9000\"\nroot_fingerprint = \"4f6c\"", "",
			[]string{at("4", `key "root_fingerprint": root_fingerprint "4f6c" is not a SHA-256 fingerprint (use the SHA-256 fingerprint `+"`step certificate fingerprint root_ca.crt`"+` prints (64 hex digits))`)}},
		{"both roots", "ca_url = \"https://ca:9000\"\nroot_fingerprint = \"" + stepFP + "\"\nroot_file = \"/r.crt\"", "",
			[]string{at("5", `key "root_file": root_file and root_fingerprint are both set (keep one of them: the fingerprint fetches the root, the file is the root)`)}},
		{"relative token", "ca_url = \"https://ca:9000\"\ntoken_file = \"t.token\"", "",
			[]string{at("4", `key "token_file": relative path "t.token" (use an absolute path starting with /)`)}},
		{"acme key on step", "ca_url = \"https://ca:9000\"\nemail = \"a@b.c\"", "",
			[]string{at("4", `key "email": email only applies to acme issuers (remove it, or use type = "acme")`)}},
		{"local key on step", "ca_url = \"https://ca:9000\"\nkey_type = \"ec256\"", "",
			[]string{at("4", `key "key_type": key_type only applies to local issuers (remove it; set key_type and validity on the cert, step-ca decides the rest)`)}},
		{"remove key after start", good, "units = [\"a.service\"]\nremove_key_after_start = true",
			[]string{`t.toml:13: cert "web": key "remove_key_after_start": a step issuer renews over mutual TLS with the current key, which remove_key_after_start deletes (remove remove_key_after_start, or use another issuer)`}},
		{"short validity", good, "validity = \"30s\"",
			[]string{`t.toml:12: cert "web": key "validity": validity 30s is shorter than 1m (use at least "1m", or leave it unset for step-ca's default)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(stepTOML(tc.issuer, tc.cert)), testOpts)
			sameLines(t, errLines(t, err, true), tc.want)
		})
	}
}

func TestValidateStepKeysElsewhere(t *testing.T) {
	_, err := Parse("t.toml", []byte(certTOML(`reuse_key = true`)+"[issuers.ca]\ntoken_file = \"/t\"\n"), testOpts)
	if err == nil {
		// The second [issuers.ca] header is a TOML error; build it instead.
		t.Fatal("duplicate table accepted")
	}
	text := strings.Replace(certTOML(`reuse_key = true`), "type = \"local\"\n", "type = \"local\"\ntoken_file = \"/t\"\n", 1)
	_, err = Parse("t.toml", []byte(text), testOpts)
	sameLines(t, errLines(t, err, false), []string{
		`issuer "ca": key "token_file": token_file only applies to step issuers (remove it, or use type = "step")`,
		`cert "web": key "reuse_key": reuse_key only applies to certs from a step issuer (remove it; other issuers always make a new key)`,
	})
}

func TestValidateStepSharedToken(t *testing.T) {
	text := stepTOML("ca_url = \"https://ca:9000\"\ntoken_file = \"/t/a.token\"", "") +
		"[certs.api]\nissuer = \"fl\"\ndns_names = [\"api.example.com\"]\ncert_file = \"/srv/api/cert.pem\"\nkey_file = \"/srv/api/key.pem\"\n"
	_, err := Parse("t.toml", []byte(text), testOpts)
	sameLines(t, errLines(t, err, false), []string{
		`cert "web": key "issuer": issuer "fl"'s one-time token enrolls one cert, and cert "api" uses it too (give each cert its own [issuers.NAME] with its own token_file)`,
	})
}

// TestStepFingerprintAndPreset: the fingerprint is normalized; the openfl
// preset makes P-384 keys from a step issuer, as fx pki certify does.
func TestStepFingerprintAndPreset(t *testing.T) {
	colons := strings.ToUpper(stepFP[:2] + ":" + stepFP[2:])
	c, err := Parse("t.toml", []byte(stepTOML("ca_url = \"https://ca:9000\"\nroot_fingerprint = \""+colons+"\"",
		"preset = \"openfl\"\nca_file = \"/srv/web/ca.pem\"")), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Issuers["fl"].RootFingerprint; got != stepFP {
		t.Errorf("fingerprint = %q", got)
	}
	if got := c.Certs["web"].KeyType; got != "ec384" {
		t.Errorf("openfl key type from a step issuer = %q, want ec384", got)
	}
	if c.Certs["web"].Validity.Duration != 0 || c.Issuers["fl"].MaxConcurrent != DefaultMaxConcurrent {
		t.Errorf("validity %v, max_concurrent %d", c.Certs["web"].Validity.Duration, c.Issuers["fl"].MaxConcurrent)
	}
}

// TestStepTokenFileChecks: a token that is there must be private; a
// missing one is fine (it is deleted once used).
func TestStepTokenFileChecks(t *testing.T) {
	dir := t.TempDir()
	tok := filepath.Join(dir, "web.token")
	opts := testOpts
	opts.SkipFileChecks = false
	text := stepTOML("ca_url = \"https://ca:9000\"\ntoken_file = \""+tok+"\"", "")
	if _, err := Parse("t.toml", []byte(text), opts); err != nil {
		t.Fatalf("missing token rejected: %v", err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := Parse("t.toml", []byte(text), opts)
	sameLines(t, errLines(t, err, false), []string{
		`issuer "fl": key "token_file": directory ` + dir + ` is writable by group or others (mode 0777) (chmod go-w ` + dir + `)`,
	})
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tok, []byte("x.y.z"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Parse("t.toml", []byte(text), opts)
	sameLines(t, errLines(t, err, false), []string{
		`issuer "fl": key "token_file": ` + tok + ` is accessible by group or others (mode 0644) (chmod 0600 ` + tok + `)`,
	})
}

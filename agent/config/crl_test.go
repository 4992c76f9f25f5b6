package config

import (
	"strings"
	"testing"
)

// crl_* keys: defaults, validation and the one shared output allowed.
func TestCRLKeys(t *testing.T) {
	W := `cert "web": `
	cases := []struct {
		name string
		kv   []string
		want []string
	}{
		{"crl_file ok", []string{`crl_file = "/srv/web/ca.crl"`}, nil},
		{"crl_file relative", []string{`crl_file = "ca.crl"`},
			[]string{W + `key "crl_file": relative path "ca.crl" (use an absolute path starting with /)`}},
		{"crl_action without crl_file", []string{`crl_action = "reload"`},
			[]string{W + `key "crl_action": crl_action only applies with crl_file (remove it, or set crl_file)`}},
		{"crl_action unknown", []string{`crl_file = "/srv/web/ca.crl"`, `crl_action = "kill"`},
			[]string{W + `key "crl_action": unknown crl_action "kill" (use one of: none, restart, reload, try-restart, reload-or-restart)`}},
		{"crl_file same as cert_file", []string{`crl_file = "/srv/web/cert.pem"`},
			[]string{W + `key "crl_file": /srv/web/cert.pem is also cert "web"'s cert_file (t.toml:5) (give each cert its own output files)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(certTOML(tc.kv...)), testOpts)
			sameLines(t, errLines(t, err, false), tc.want)
		})
	}
}

func TestCRLDefaultsAndSharing(t *testing.T) {
	two := func(issuer2 string) string {
		return `[issuers.ca]
type = "local"
crl_validity = "2d"
crl_url = "http://ca.example.com/ca.crl"
[issuers.other]
type = "local"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "/srv/web/cert.pem"
key_file = "/srv/web/key.pem"
crl_file = "/srv/crl/ca.crl"
action = "reload"
[certs.api]
issuer = "` + issuer2 + `"
dns_names = ["api.example.com"]
cert_file = "/srv/api/cert.pem"
key_file = "/srv/api/key.pem"
crl_file = "/srv/crl/ca.crl"
`
	}
	cfg, err := Parse("t.toml", []byte(two("ca")), testOpts)
	if err != nil {
		t.Fatalf("two certs of one issuer sharing crl_file: %v", err)
	}
	if got := cfg.Certs["web"].CRLAction; got != "reload" {
		t.Errorf("crl_action with action reload = %q, want reload", got)
	}
	if got := cfg.Certs["api"].CRLAction; got != CRLActionNone {
		t.Errorf("crl_action with action restart = %q, want none", got)
	}
	if is := cfg.Issuers["ca"]; is.CRLValidity.Duration.Hours() != 48 || is.CRLURL == "" {
		t.Errorf("issuer crl keys: %+v", is)
	}
	if is := cfg.Issuers["other"]; is.CRLValidity.Duration != DefaultCRLValidity {
		t.Errorf("default crl_validity = %s", is.CRLValidity.Duration)
	}
	_, err = Parse("t.toml", []byte(two("other")), testOpts)
	if err == nil || !strings.Contains(err.Error(), `/srv/crl/ca.crl is also cert "web"'s crl_file`) {
		t.Fatalf("certs of two issuers sharing crl_file: %v", err)
	}
	bad := strings.Replace(two("ca"), `crl_validity = "2d"`, `crl_validity = "10m"`, 1)
	bad = strings.Replace(bad, `crl_url = "http://ca.example.com/ca.crl"`, `crl_url = "ftp://x/ca.crl"`, 1)
	_, err = Parse("t.toml", []byte(bad), testOpts)
	for _, want := range []string{"crl_validity 10m0s is shorter than 1h", `bad crl_url "ftp://x/ca.crl"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
}

package config

import (
	"net"
	"testing"
	"time"
)

func TestValidateCert(t *testing.T) {
	W := `cert "web": `
	cases := []struct {
		name string
		kv   []string
		want []string
	}{
		{"valid", nil, nil},
		{"relative output path", []string{`cert_file = "tls/cert.pem"`},
			[]string{W + `key "cert_file": relative path "tls/cert.pem" (use an absolute path starting with /)`}},
		{"newline in path", []string{`chain_file = "/srv/web/chain.pem\nx"`},
			[]string{W + `key "chain_file": path "/srv/web/chain.pem\nx" contains a newline (remove the line break from the path)`}},
		{"nul in path", []string{`ca_file = "/srv/web/ca\u0000.pem"`},
			[]string{W + `key "ca_file": path "/srv/web/ca\x00.pem" contains a NUL byte (remove the NUL character from the path)`}},
		{"directory as path", []string{`fullchain_file = "/srv/web/"`},
			[]string{W + `key "fullchain_file": path "/srv/web/" ends with / (name a file, not a directory)`}},
		{"same path twice in one cert", []string{`fullchain_file = "/srv/web/cert.pem"`},
			[]string{W + `key "fullchain_file": /srv/web/cert.pem is also cert "web"'s cert_file (t.toml:5) (give each cert its own output files)`}},
		{"missing outputs", []string{"-cert_file", "-key_file"},
			[]string{W + `key "cert_file": missing cert_file (add e.g. cert_file = "/etc/myservice/tls/cert.pem")`,
				W + `key "key_file": missing key_file (add e.g. key_file = "/etc/myservice/tls/key.pem")`}},
		{"unknown issuer", []string{`issuer = "le"`},
			[]string{W + `key "issuer": unknown issuer "le" (define it as [issuers.NAME] or use one of: ca)`}},
		{"missing issuer", []string{"-issuer"},
			[]string{W + `key "issuer": missing issuer (define it as [issuers.NAME] or use one of: ca)`}},
		{"empty SAN set", []string{"-dns_names"},
			[]string{W + `key "dns_names": no dns_names or ip_addresses (add at least one name, e.g. dns_names = ["host.example.com"] or ip_addresses = ["10.0.0.5"])`}},
		{"ip only is fine", []string{"-dns_names", `ip_addresses = ["10.0.0.5", "::1"]`}, nil},
		{"invalid IP", []string{`ip_addresses = ["10.0.0.256"]`},
			[]string{W + `key "ip_addresses": invalid IP address "10.0.0.256" (use a literal IPv4 or IPv6 address, e.g. "10.0.0.5" or "::1")`}},
		{"dns name with underscore", []string{`dns_names = ["my_host.example.com"]`},
			[]string{W + `key "dns_names": invalid dns name "my_host.example.com": character '_' is not allowed (use a host name such as "host.example.com")`}},
		{"dns name with trailing dot", []string{`dns_names = ["web.example.com."]`},
			[]string{W + `key "dns_names": dns name "web.example.com." ends with a dot (remove the trailing dot)`}},
		{"dns name that is an IP", []string{`dns_names = ["10.1.2.3"]`},
			[]string{W + `key "dns_names": dns name "10.1.2.3" is an IP address (put IP addresses in ip_addresses)`}},
		{"bad wildcard", []string{`dns_names = ["web.*.example.com"]`},
			[]string{W + `key "dns_names": invalid wildcard in dns name "web.*.example.com" (a wildcard must be the whole leftmost label of a name with at least two more labels, e.g. "*.example.com")`}},
		{"good wildcard", []string{`dns_names = ["*.example.com"]`}, nil},
		{"unicode dns name", []string{`dns_names = ["bücher.example"]`},
			[]string{W + `key "dns_names": invalid dns name "bücher.example": character 'ü' is not allowed (write internationalized names in their xn-- (punycode) form)`}},
		{"hyphen label", []string{`dns_names = ["-web.example.com"]`},
			[]string{W + `key "dns_names": invalid dns name "-web.example.com": a label starts or ends with '-' (use a host name such as "host.example.com")`}},
		{"unknown key type", []string{`key_type = "rsa1024"`},
			[]string{W + `key "key_type": unknown key type "rsa1024" (use one of: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)`}},
		{"rsa below min_rsa_bits", []string{`key_type = "rsa2048"`, "[agent]", "min_rsa_bits = 3072"},
			[]string{W + `key "key_type": key type rsa2048 is below min_rsa_bits 3072 (use rsa3072 or larger, or an EC key type)`}},
		{"key type not allowed", []string{`key_type = "ed25519"`, "[agent]", `allowed_key_types = ["ec256", "ec384"]`},
			[]string{W + `key "key_type": key type ed25519 is not in [agent] allowed_key_types (use one of allowed_key_types: ec256, ec384)`}},
		{"key mode looser than 0600", []string{`mode = "0640"`},
			[]string{W + `key "mode": mode 0640 is looser than 0600 for a private key (use "0600" or stricter, or set allow_insecure_mode = true; cert_mode may be looser for public files)`}},
		{"key mode 777 written without 0", []string{`mode = "777"`},
			[]string{W + `key "mode": mode 0777 is looser than 0600 for a private key (use "0600" or stricter, or set allow_insecure_mode = true; cert_mode may be looser for public files)`}},
		{"insecure mode allowed", []string{`mode = "0640"`, "allow_insecure_mode = true"}, nil},
		{"cert_mode may be looser", []string{`cert_mode = "0644"`}, nil},
		{"stricter key mode", []string{`mode = "0400"`}, nil},
		{"mode owner cannot read", []string{`mode = "0200"`},
			[]string{W + `key "mode": mode 0200 does not let the owner use the file (include the owner's read bit, e.g. "0600")`}},
		{"dir mode without x", []string{`dir_mode = "0644"`},
			[]string{W + `key "dir_mode": mode 0644 does not let the owner use the file (include the owner's read and execute bits, e.g. "0755")`}},
		{"setuid mode", []string{`cert_mode = "4644"`},
			[]string{W + `key "cert_mode": mode "4644" has bits beyond 0777 (setuid, setgid and sticky bits are not allowed; use e.g. "0600")`}},
		{"unknown user", []string{`owner = "determined"`},
			[]string{W + `key "owner": unknown user "determined" (create the user first (useradd --system) or correct the name)`}},
		{"unknown group", []string{`group = "determined"`},
			[]string{W + `key "group": unknown group "determined" (create the group first (groupadd) or correct the name)`}},
		{"usage not server/client", []string{`usage = ["server", "peer"]`},
			[]string{W + `key "usage": unknown usage "peer" (use "server" and/or "client")`}},
		{"usage empty", []string{`usage = []`},
			[]string{W + `key "usage": usage is empty (use usage = ["server"], ["client"] or ["server", "client"])`}},
		{"usage twice", []string{`usage = ["client", "client"]`},
			[]string{W + `key "usage": usage "client" is listed twice (list each usage once)`}},
		{"unknown action", []string{`action = "kill"`},
			[]string{W + `key "action": unknown action "kill" (use one of: restart, reload, try-restart, reload-or-restart)`}},
		{"unit without suffix", []string{`units = ["nginx"]`},
			[]string{W + `key "units": invalid unit name "nginx" (give the full unit name with its type, e.g. "nginx.service")`}},
		{"unit with bad char", []string{`units = ["my unit.service"]`},
			[]string{W + `key "units": invalid unit name "my unit.service": character ' ' is not allowed (unit names use letters, digits and : _ . \ - @)`}},
		{"template unit", []string{`units = ["getty@.service"]`},
			[]string{W + `key "units": unit "getty@.service" is a template, which cannot be restarted (name an instance, e.g. "getty@main.service")`}},
		{"instance unit ok", []string{`units = ["openvpn@server.service", "web.socket"]`}, nil},
		{"exec not absolute", []string{`exec = ["reload.sh", "--now"]`},
			[]string{W + `key "exec": exec program "reload.sh" is not an absolute path (use the program's absolute path, e.g. "/usr/local/bin/reload-certs"; hooks do not search $PATH)`}},
		{"exec zero timeout", []string{`exec = ["/bin/true"]`, `exec_timeout = "0s"`},
			[]string{W + `key "exec_timeout": exec_timeout must be longer than zero (use a positive duration, e.g. exec_timeout = "60s")`}},
		{"settle zero is fine", []string{`settle = "0s"`}, nil},
		{"validity too short", []string{`validity = "30s"`},
			[]string{W + `key "validity": validity 30s is shorter than 1m (use at least "1m"; the default is "90d")`}},
		{"validity longer than CA", []string{`validity = "4000d"`},
			[]string{W + `key "validity": validity 4000d is longer than issuer "ca"'s own validity 3650d (shorten it, or lengthen the issuer's validity)`}},
		{"renew_before not less than validity", []string{`validity = "30d"`, `renew_before = "30d"`},
			[]string{W + `key "renew_before": renew_before 30d is not less than validity 30d, so the cert would always be due (use a value shorter than validity, or a share such as "33%")`}},
		{"renew_before 0%", []string{`renew_before = "0%"`},
			[]string{W + `key "renew_before": bad renew_before "0%" (use a share of the lifetime above 0% and below 100%, e.g. "33%")`}},
		{"renew_before 100%", []string{`renew_before = "100%"`},
			[]string{W + `key "renew_before": bad renew_before "100%" (use a share of the lifetime above 0% and below 100%, e.g. "33%")`}},
		{"renew_before garbage", []string{`renew_before = "soon"`},
			[]string{W + `key "renew_before": bad duration "soon" (use a duration such as "20d" or a share of the lifetime such as "33%")`}},
		{"renew_before zero", []string{`renew_before = "0s"`},
			[]string{W + `key "renew_before": renew_before must be longer than zero (use a positive duration such as "20d", or leave it empty)`}},
		{"long common name", []string{`common_name = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`},
			[]string{W + `key "common_name": common name "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"… is too long (use at most 64 characters; long names belong in dns_names)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.toml", []byte(certTOML(tc.kv...)), testOpts)
			sameLines(t, errLines(t, err, false), tc.want)
		})
	}
}

func TestValidateIssuerAndAgent(t *testing.T) {
	const cert = "\n[certs.web]\nissuer = \"le\"\ndns_names = [\"web.example.com\"]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n"
	acme := func(lines string) string {
		return "[issuers.le]\ntype = \"acme\"\ndirectory = \"https://acme.example/dir\"\n" + lines + cert
	}
	L := `issuer "le": `
	cases := []struct {
		name, toml string
		opts       *Options
		want       []string
	}{
		{"acme valid", acme(`email = "ops@example.com"`), nil, nil},
		{"issuer type unknown", "[issuers.le]\ntype = \"vault\"\n" + cert, nil,
			[]string{L + `key "type": unknown issuer type "vault" (use type = "local", "acme" or "step")`}},
		{"issuer type missing", "[issuers.le]\nkey_type = \"ec256\"\n" + cert, nil,
			[]string{L + `key "type": missing issuer type (add type = "local", "acme" or "step")`}},
		{"acme http directory", "[issuers.le]\ntype = \"acme\"\ndirectory = \"http://localhost:14000/dir\"\n" + cert, nil,
			[]string{L + `key "directory": directory URL "http://localhost:14000/dir" is not https (use https://, or set insecure_directory = true for a test CA)`}},
		{"acme http directory allowed", "[issuers.le]\ntype = \"acme\"\ninsecure_directory = true\ndirectory = \"http://localhost:14000/dir\"\n" + cert, nil, nil},
		{"acme directory missing", "[issuers.le]\ntype = \"acme\"\n" + cert, nil,
			[]string{L + `key "directory": missing ACME directory URL (add e.g. directory = "https://acme-v02.api.letsencrypt.org/directory")`}},
		{"acme directory garbage", "[issuers.le]\ntype = \"acme\"\ndirectory = \"acme.example\"\n" + cert, nil,
			[]string{L + `key "directory": bad directory URL "acme.example" (use the CA's directory URL, e.g. "https://acme-v02.api.letsencrypt.org/directory")`}},
		{"bad email", acme(`email = "ops at example.com"`), nil,
			[]string{L + `key "email": invalid email "ops at example.com" (use a plain address such as "ops@example.com")`}},
		{"challenge enum", acme(`challenge = "dns01"`), nil,
			[]string{L + `key "challenge": unknown challenge "dns01" (use one of: http-01, tls-alpn-01, dns-01)`}},
		{"dns-01 without provider", acme(`challenge = "dns-01"`), nil,
			[]string{L + `key "dns_provider": dns-01 needs a dns_provider (name a lego DNS provider, e.g. dns_provider = "cloudflare")`}},
		{"dns provider unknown", acme("challenge = \"dns-01\"\ndns_provider = \"cloudfare\""),
			&Options{KnownDNSProvider: func(n string) bool { return n == "cloudflare" }, SkipFileChecks: true},
			[]string{L + `key "dns_provider": unknown dns provider "cloudfare" (use a provider name from docs/acme.md (lego's names); route53 needs -tags dnsroute53, linode -tags dnslinode, any other provider outside the default build -tags dnsall)`}},
		{"dns provider any when nil", acme("challenge = \"dns-01\"\ndns_provider = \"whatever\""), nil, nil},
		{"dns provider with http-01", acme(`dns_provider = "cloudflare"`), nil,
			[]string{L + `key "dns_provider": dns_provider only applies to the dns-01 challenge (remove it, or use challenge = "dns-01")`}},
		{"webroot with dns-01", acme("challenge = \"dns-01\"\ndns_provider = \"exec\"\nwebroot = \"/var/www\""), nil,
			[]string{L + `key "webroot": webroot only applies to the http-01 challenge (remove it, or use challenge = "http-01")`}},
		{"relative webroot", acme(`webroot = "var/www"`), nil,
			[]string{L + `key "webroot": relative path "var/www" (use an absolute path starting with /)`}},
		{"bad resolver", acme(`dns_resolvers = ["127.0.0.1"]`), nil,
			[]string{L + `key "dns_resolvers": bad address "127.0.0.1" (use host:port, e.g. "127.0.0.1:9610" or ":80")`}},
		{"bad http_listen port", acme(`http_listen = ":http"`), nil,
			[]string{L + `key "http_listen": bad port "http" in ":http" (use a port number from 1 to 65535)`}},
		{"eab kid without hmac", acme(`eab_kid = "kid-1"`), nil,
			[]string{L + `key "eab_hmac_file": eab_kid is set but eab_hmac_file is not (set eab_hmac_file to the file holding the CA's HMAC key)`}},
		{"eab hmac without kid", acme(`eab_hmac_file = "/etc/certagent/eab.key"`), nil,
			[]string{L + `key "eab_kid": eab_hmac_file is set but eab_kid is not (set eab_kid to the key id the CA gave you)`}},
		{"max_concurrent 0 written", acme(`max_concurrent = 65`), nil,
			[]string{L + `key "max_concurrent": max_concurrent 65 is out of range (use a value from 1 to 64; the default is 4)`}},
		{"max_concurrent negative", acme(`max_concurrent = -1`), nil,
			[]string{L + `key "max_concurrent": max_concurrent -1 is out of range (use a value from 1 to 64; the default is 4)`}},
		{"profile free text", acme(`profile = "shortlived"`), nil, nil},
		{"profile with space", acme(`profile = "short lived"`), nil,
			[]string{L + `key "profile": invalid profile "short lived" (use the CA's profile name, e.g. "tlsserver" or "shortlived")`}},
		{"local key on acme", acme(`key_type = "ec256"`), nil,
			[]string{L + `key "key_type": key_type only applies to local issuers (remove it; the ACME CA decides its own keys, names and lifetimes)`}},
		{"acme cert with validity", acme("") + "validity = \"30d\"\n", nil,
			[]string{`cert "web": key "validity": validity only applies to certs from a local issuer (remove it; the ACME CA (or its profile) decides the lifetime)`}},
		{"acme cn not a SAN", acme("") + "common_name = \"other.example.com\"\n", nil,
			[]string{`cert "web": key "common_name": common name "other.example.com" is not one of the cert's names, which ACME CAs refuse (use one of dns_names, or leave common_name unset)`}},
		{"acme key on local", "[issuers.le]\ntype = \"local\"\nemail = \"a@b.c\"\nari = false\n" + cert, nil,
			[]string{L + `key "email": email only applies to acme issuers (remove it, or use type = "acme")`,
				L + `key "ari": ari only applies to acme issuers (remove it, or use type = "acme")`}},
		{"local CA validity too short", "[issuers.le]\ntype = \"local\"\nvalidity = \"30m\"\n" + cert, nil,
			// The cert's 90d validity is not reported against a CA validity that is itself wrong.
			[]string{L + `key "validity": CA validity 30m0s is shorter than 1h (use at least "1h"; the default is "3650d")`}},
		{"local CA rsa2048 below policy", "[agent]\nmin_rsa_bits = 4096\n[issuers.le]\ntype = \"local\"\nkey_type = \"rsa3072\"\n" + cert, nil,
			[]string{L + `key "key_type": key type rsa3072 is below min_rsa_bits 4096 (use rsa4096 or larger, or an EC key type)`}},
		{"issuer bad name", "[issuers.\"../x\"]\ntype = \"local\"\n", nil,
			[]string{`issuer "../x": invalid name "../x" (use letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters)`}},
		{"log level", "[agent]\nlog_level = \"verbose\"\nlog_format = \"xml\"\n", nil,
			[]string{`agent: key "log_level": unknown log level "verbose" (use one of: trace, debug, info, warn, error)`,
				`agent: key "log_format": unknown log format "xml" (use one of: auto, text, json)`}},
		{"zero spans", "[agent]\ncheck_interval = \"0s\"\nwarn_before = \"0d\"\n", nil,
			[]string{`agent: key "check_interval": check_interval must be longer than zero (use a positive duration, e.g. check_interval = "12h")`,
				`agent: key "warn_before": warn_before must be longer than zero (use a positive duration, e.g. warn_before = "14d")`}},
		{"relative state dir", "[agent]\nstate_dir = \"state\"\n", nil,
			[]string{`agent: key "state_dir": relative path "state" (use an absolute path starting with /)`}},
		{"metrics remote", "[agent]\nmetrics_listen = \":9610\"\n", nil,
			[]string{`agent: key "metrics_listen": ":9610" is not a loopback address (listen on "127.0.0.1:PORT", or set metrics_allow_remote = true)`}},
		{"metrics remote allowed", "[agent]\nmetrics_listen = \"0.0.0.0:9610\"\nmetrics_allow_remote = true\n", nil, nil},
		{"metrics loopback v6", "[agent]\nmetrics_listen = \"[::1]:9610\"\n", nil, nil},
		{"metrics no port", "[agent]\nmetrics_listen = \"127.0.0.1\"\n", nil,
			[]string{`agent: key "metrics_listen": bad address "127.0.0.1" (use host:port, e.g. "127.0.0.1:9610" or ":80")`}},
		{"min rsa bits", "[agent]\nmin_rsa_bits = 512\n", nil,
			[]string{`agent: key "min_rsa_bits": min_rsa_bits 512 is out of range (use a value from 1024 to 16384, e.g. 2048)`}},
		{"allowed key types", "[agent]\nallowed_key_types = [\"dsa\"]\n", nil,
			[]string{`agent: key "allowed_key_types": unknown key type "dsa" (use one of: ec256, ec384, rsa2048, rsa3072, rsa4096, ed25519)`}},
		{"watch equals managed output", "[issuers.ca]\ntype = \"local\"\n[certs.web]\nissuer = \"ca\"\ndns_names = [\"a.example\"]\ncert_file = \"/c.pem\"\nkey_file = \"/k.pem\"\n[watch.old]\ncert_file = \"/c.pem\"\n", nil,
			[]string{`watch "old": key "cert_file": /c.pem is also cert "web"'s cert_file (t.toml:6) (certagent already watches the files it manages; remove the watch entry)`}},
		{"two watches on one file", "[watch.a]\ncert_file = \"/w.pem\"\n[watch.b]\ncert_file = \"/w.pem\"\n", nil,
			[]string{`watch "b": key "cert_file": /w.pem is also watch "a"'s cert_file (t.toml:2) (watch each file from one entry only)`}},
		{"watch missing cert_file", "[watch.old]\nkey_file = \"/k.pem\"\naction = \"reload\"\n", nil,
			[]string{`watch "old": key "cert_file": missing cert_file (add the path to watch, e.g. cert_file = "/etc/letsencrypt/live/web/fullchain.pem")`}},
		{"watch bad action and unit", "[watch.old]\ncert_file = \"/c.pem\"\nunits = [\"nginx\"]\naction = \"bounce\"\n", nil,
			[]string{`watch "old": key "units": invalid unit name "nginx" (give the full unit name with its type, e.g. "nginx.service")`,
				`watch "old": key "action": unknown action "bounce" (use one of: restart, reload, try-restart, reload-or-restart)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts
			if tc.opts != nil {
				opts = *tc.opts
			}
			_, err := Parse("t.toml", []byte(tc.toml), opts)
			sameLines(t, errLines(t, err, false), tc.want)
		})
	}
}

// TestValidateResolved checks the fields Validate fills in.
func TestValidateResolved(t *testing.T) {
	c, err := Parse("t.toml", []byte(certTOML(`ip_addresses = ["10.0.0.5", "2001:db8::1"]`,
		`owner = "www-data"`, `renew_before = "33%"`, `usage = ["server", "client"]`)+
		"[watch.w]\ncert_file = \"/w.pem\"\n"), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	ct := c.Certs["web"]
	if ct.Name != "web" || c.Issuers["ca"].Name != "ca" || c.Watch["w"].Name != "w" {
		t.Errorf("names not resolved: %q %q %q", ct.Name, c.Issuers["ca"].Name, c.Watch["w"].Name)
	}
	if len(ct.IPs) != 2 || !ct.IPs[0].Equal(net.ParseIP("10.0.0.5")) || len(ct.IPs[0]) != 4 || !ct.IPs[1].Equal(net.ParseIP("2001:db8::1")) {
		t.Errorf("IPs = %v", ct.IPs)
	}
	if ct.UID != 33 || ct.GID != -1 {
		t.Errorf("UID/GID = %d/%d, want 33/-1", ct.UID, ct.GID)
	}
	if ct.RenewBeforeFraction != 0.33 || ct.RenewBeforeDuration != 0 {
		t.Errorf("renew_before = %v / %v", ct.RenewBeforeDuration, ct.RenewBeforeFraction)
	}
	if !ct.ServerAuth() || !ct.ClientAuth() {
		t.Error("usage server+client not reported")
	}
	if got := ct.OutputFiles(); len(got) != 2 || got[0] != "/srv/web/key.pem" || got[1] != "/srv/web/cert.pem" {
		t.Errorf("OutputFiles = %v", got)
	}

	c, err = Parse("t.toml", []byte(certTOML(`renew_before = "20d"`, `group = "110"`, `owner = "0"`)), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	ct = c.Certs["web"]
	if ct.RenewBeforeDuration != 20*24*time.Hour || ct.RenewBeforeFraction != 0 {
		t.Errorf("renew_before = %v / %v", ct.RenewBeforeDuration, ct.RenewBeforeFraction)
	}
	if ct.UID != 0 || ct.GID != 110 {
		t.Errorf("numeric UID/GID = %d/%d, want 0/110", ct.UID, ct.GID)
	}
	if ct.ClientAuth() || !ct.ServerAuth() {
		t.Error("default usage should be server only")
	}
}

// TestValidateCodeBuiltConfig validates a Config built in code, with no
// file positions, as the lead's tests may do.
func TestValidateCodeBuiltConfig(t *testing.T) {
	c := &Config{
		Issuers: map[string]*Issuer{"ca": {Type: "local"}},
		Certs:   map[string]*Cert{"x": {Issuer: "ca", DNSNames: []string{"x.example"}, CertFile: "/c", KeyFile: "k"}},
	}
	ApplyDefaults(c)
	err := Validate(c, testOpts)
	sameLines(t, errLines(t, err, true), []string{`cert "x": key "key_file": relative path "k" (use an absolute path starting with /)`})
	c.Certs["x"].KeyFile = "/k"
	if err := Validate(c, testOpts); err != nil {
		t.Fatalf("valid code-built config: %v", err)
	}
	c.Certs["x"].Mode.FileMode = 0o4600
	sameLines(t, errLines(t, Validate(c, testOpts), true),
		[]string{`cert "x": key "mode": mode 4600 has bits beyond 0777 (setuid, setgid and sticky bits are not allowed; use e.g. "0600")`})
}

package config

import (
	"strings"
	"testing"
	"time"
)

// TestDecode checks strict decoding with full locations: every unknown
// key and wrongly typed value in a file is reported, each with its line.
func TestDecode(t *testing.T) {
	cases := []struct {
		name, toml string
		want       []string
	}{
		{"empty file", "", nil},
		{"comments only", "# nothing here\n\n", nil},
		{"syntax error", "[agent]\nlog_level = \"info\n",
			[]string{`f.toml:2: toml syntax error: strings cannot contain newlines (fix the TOML syntax on this line; see https://toml.io)`}},
		{"duplicate key", "[agent]\nlog_level = \"info\"\nlog_level = \"debug\"\n",
			[]string{`f.toml:3: toml syntax error: key 'agent.log_level' has already been defined (fix the TOML syntax on this line; see https://toml.io)`}},
		{"unknown top-level table", "[cert.web]\nissuer = \"x\"\n",
			[]string{`f.toml:1: key "cert": unknown top-level key or table (did you mean "certs"?)`}},
		{"unknown agent key", "[agent]\nlog_levle = \"info\"\nfoo = 1\n",
			[]string{`f.toml:2: agent: key "log_levle": unknown key (did you mean "log_level"?)`,
				`f.toml:3: agent: key "foo": unknown key (remove it; docs/configuration.md lists the valid keys)`}},
		{"every wrong type in one table", strings.Join([]string{
			"[certs.web]",
			"issuer = 5",
			"dns_names = \"web.example.com\"",
			"ip_addresses = [\"10.0.0.1\", 7]",
			"allow_insecure_mode = \"yes\"",
			"mode = 600",
			"validity = 90",
			"settle = \"soon\"",
			"rollback = 1",
		}, "\n"), []string{
			`f.toml:2: cert "web": key "issuer": expected a string or an array of strings, got integer 5 (write issuer = "NAME", or an ordered list issuer = ["primary", "fallback"])`,
			`f.toml:3: cert "web": key "dns_names": expected an array of strings, got string "web.example.com" (write a list: dns_names = ["web.example.com"])`,
			`f.toml:4: cert "web": key "ip_addresses": element 2: expected a string, got integer 7 (quote every element)`,
			`f.toml:5: cert "web": key "allow_insecure_mode": expected true or false, got string "yes" (write allow_insecure_mode = true or allow_insecure_mode = false, without quotes)`,
			`f.toml:6: cert "web": key "mode": expected a quoted octal mode, got integer 600 (write the mode as a quoted octal string, e.g. mode = "0600")`,
			`f.toml:7: cert "web": key "validity": expected a duration string, got integer 90 (write a quoted duration, e.g. validity = "30d" or "12h")`,
			`f.toml:8: cert "web": key "settle": bad duration "soon" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
			`f.toml:9: cert "web": key "rollback": expected true or false, got integer 1 (write rollback = true or rollback = false, without quotes)`,
		}},
		{"int where string", "[issuers.le]\ntype = \"acme\"\nmax_concurrent = \"4\"\nari = \"true\"\n", []string{
			`f.toml:3: issuer "le": key "max_concurrent": expected an integer, got string "4" (write a whole number without quotes, e.g. max_concurrent = 4)`,
			`f.toml:4: issuer "le": key "ari": expected true or false, got string "true" (write ari = true or ari = false, without quotes)`,
		}},
		{"array of tables", "[[certs]]\nissuer = \"x\"\n",
			[]string{`f.toml:1: key "certs": expected a table of named tables, got an array of tables (write [certs.NAME] headers, not [[certs]])`}},
		{"cert not a table", "[certs]\nweb = \"x\"\n",
			[]string{`f.toml:2: key "certs.web": expected a table, got string "x" (write it as a [certs.web] table with the cert's keys)`}},
		{"agent not a table", "agent = 1\n",
			[]string{`f.toml:1: agent: expected a table, got integer 1 (write it as a [agent] table)`}},
		{"nested unknown table", "[certs.web.extra]\nx = 1\n",
			[]string{`f.toml:1: cert "web": key "extra": unknown key (remove it; docs/configuration.md lists the valid keys)`}},
		{"dotted keys and inline tables", "certs.web.issuer = 1\nwatch = { w = { cert_file = 2 } }\n", []string{
			`f.toml:1: cert "web": key "issuer": expected a string or an array of strings, got integer 1 (write issuer = "NAME", or an ordered list issuer = ["primary", "fallback"])`,
			`f.toml:2: watch "w": key "cert_file": expected a string, got integer 2 (quote the value, e.g. cert_file = "…")`,
		}},
		{"negative and unknown-unit durations", "[agent]\ncheck_interval = \"-1d\"\nwarn_before = \"1y\"\n", []string{
			`f.toml:2: agent: key "check_interval": negative duration "-1d" (durations are spans and must be positive)`,
			`f.toml:3: agent: key "warn_before": bad duration "1y" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		}},
		{"date value", "[agent]\nstate_dir = 2024-01-01\n",
			[]string{`f.toml:2: agent: key "state_dir": expected a string, got a date/time (quote the value, e.g. state_dir = "…")`}},
		{"float", "[agent]\nmin_rsa_bits = 2048.5\n",
			[]string{`f.toml:2: agent: key "min_rsa_bits": expected an integer, got float 2048.5 (write a whole number without quotes, e.g. min_rsa_bits = 4)`}},
		{"huge int", "[agent]\nmin_rsa_bits = 99999999999\n",
			[]string{`f.toml:2: agent: key "min_rsa_bits": integer 99999999999 is out of range (use a smaller number)`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode("f.toml", []byte(tc.toml))
			sameLines(t, errLines(t, err, true), tc.want)
		})
	}
}

func TestDecodeValues(t *testing.T) {
	c, err := Decode("f.toml", []byte(`
[agent]
check_interval = "1d12h"
metrics_allow_remote = true
allowed_key_types = []
[issuers.le]
type = "acme"
ari = false
max_concurrent = 8
[certs.web]
mode = "0o640"
settle = "0s"
units = ["a.service", "b.service"]
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Agent.CheckInterval.Duration != 36*time.Hour || !c.Agent.CheckInterval.Set || !c.Agent.MetricsAllowRemote {
		t.Errorf("agent = %+v", c.Agent)
	}
	if c.Agent.AllowedKeyTypes == nil || len(c.Agent.AllowedKeyTypes) != 0 {
		t.Errorf("empty array should decode as empty, not nil: %#v", c.Agent.AllowedKeyTypes)
	}
	if is := c.Issuers["le"]; is.ARI == nil || *is.ARI || is.MaxConcurrent != 8 {
		t.Errorf("issuer = %+v", is)
	}
	ct := c.Certs["web"]
	if ct.Mode.FileMode != 0o640 || !ct.Mode.Set || !ct.Settle.Set || ct.Settle.Duration != 0 || len(ct.Units) != 2 {
		t.Errorf("cert = %+v", ct)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("f.toml", []byte(`
[issuers.ca]
type = "local"
[issuers.le]
type = "acme"
directory = "https://acme.example/dir"
[certs.local]
issuer = "ca"
ip_addresses = ["10.0.0.1"]
cert_file = "/c1"
key_file = "/k1"
[certs.pub]
issuer = "le"
dns_names = ["a.example", "b.example"]
cert_file = "/c2"
key_file = "/k2"
mode = "0400"
[watch.w]
cert_file = "/w"
`), testOpts)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Agent
	if a.StateDir != "/var/lib/certagent" || a.CheckInterval.Duration != 12*time.Hour || a.WarnBefore.Duration != 14*24*time.Hour ||
		a.LogLevel != "info" || a.LogFormat != "auto" || a.MinRSABits != 2048 || a.MetricsListen != "" {
		t.Errorf("agent defaults = %+v", a)
	}
	ca := c.Issuers["ca"]
	if ca.KeyType != "ec384" || ca.CommonName != "certagent ca CA" || ca.Validity.Duration != 3650*24*time.Hour {
		t.Errorf("local issuer defaults = %+v", ca)
	}
	le := c.Issuers["le"]
	if le.Challenge != "http-01" || le.HTTPListen != ":80" || le.TLSListen != ":443" || le.ARI == nil || !*le.ARI || le.MaxConcurrent != 4 {
		t.Errorf("acme issuer defaults = %+v", le)
	}
	l := c.Certs["local"]
	if len(l.Usage) != 1 || l.Usage[0] != "server" || l.KeyType != "ec256" || l.Validity.Duration != 90*24*time.Hour ||
		l.Mode.FileMode != 0o600 || l.CertMode.FileMode != 0o600 || l.DirMode.FileMode != 0o755 || l.Action != "restart" ||
		l.Settle.Duration != 10*time.Second || l.ExecTimeout.Duration != 60*time.Second || l.CommonName != "10.0.0.1" ||
		l.UID != -1 || l.GID != -1 {
		t.Errorf("cert defaults = %+v", l)
	}
	p := c.Certs["pub"]
	if p.Validity.Duration != 0 || p.CommonName != "a.example" || p.CertMode.FileMode != 0o400 {
		t.Errorf("acme cert: validity %v (want 0: the CA decides), cn %q, cert_mode %v (want = mode)", p.Validity.Duration, p.CommonName, p.CertMode.FileMode)
	}
	if w := c.Watch["w"]; w.Action != "restart" || w.ExecTimeout.Duration != 60*time.Second {
		t.Errorf("watch defaults = %+v", w)
	}
	// Defaults are idempotent and never override what the file set.
	before := *p
	ApplyDefaults(c)
	if p.Mode != before.Mode || p.CommonName != before.CommonName {
		t.Error("ApplyDefaults is not idempotent")
	}
}

func TestEmptyFileManagesNothing(t *testing.T) {
	c, err := Parse("empty.toml", nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.CertNames())+len(c.WatchNames()) != 0 || c.Agent.StateDir != DefaultStateDir {
		t.Errorf("empty config = %+v", c)
	}
}

func TestParseDuration(t *testing.T) {
	good := map[string]time.Duration{
		"30d": 30 * 24 * time.Hour, "12h": 12 * time.Hour, "90m": 90 * time.Minute, "1d12h": 36 * time.Hour,
		" 10s ": 10 * time.Second, "0s": 0, "0d": 0, "36500d": 36500 * 24 * time.Hour, "1.5h": 90 * time.Minute,
	}
	for in, want := range good {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":               `empty duration (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"-1d":            `negative duration "-1d" (durations are spans and must be positive)`,
		"1y":             `bad duration "1y" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"30":             `bad duration "30" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"1.5d":           `bad duration "1.5d" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"1d-1h":          `bad duration "1d-1h" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"d":              `bad duration "d" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"36501d":         `duration "36501d" is too long (use at most 36500d (100 years))`,
		"36500d1h":       `duration "36500d1h" is too long (use at most 36500d (100 years))`,
		"4294967296d":    `bad duration "4294967296d" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
		"2562047h":       `duration "2562047h" is too long (use at most 36500d (100 years))`,
		"9999999999999h": `bad duration "9999999999999h" (use e.g. "30d", "12h" or "90m"; units: d h m s)`,
	}
	for in, want := range bad {
		if _, err := ParseDuration(in); err == nil || err.Error() != want {
			t.Errorf("ParseDuration(%q) error = %v; want %s", in, err, want)
		}
	}
}

func TestFileMode(t *testing.T) {
	for in, want := range map[string]uint32{"0600": 0o600, "600": 0o600, "0o640": 0o640, "0": 0, "777": 0o777} {
		var m FileMode
		if err := m.UnmarshalText([]byte(in)); err != nil || uint32(m.FileMode) != want || !m.Set {
			t.Errorf("mode %q = %o, %v", in, m.FileMode, err)
		}
	}
	for in, want := range map[string]string{
		"rw-r--r--": `bad mode "rw-r--r--" (use an octal string such as "0600")`,
		"0800":      `bad mode "0800" (use an octal string such as "0600")`,
		"":          `bad mode "" (use an octal string such as "0600")`,
		"+600":      `bad mode "+600" (use an octal string such as "0600")`,
		"1777":      `mode "1777" has bits beyond 0777 (setuid, setgid and sticky bits are not allowed; use e.g. "0600")`,
		"77777":     `mode "77777" has bits beyond 0777 (setuid, setgid and sticky bits are not allowed; use e.g. "0600")`,
	} {
		var m FileMode
		if err := m.UnmarshalText([]byte(in)); err == nil || err.Error() != want {
			t.Errorf("mode %q error = %v; want %s", in, err, want)
		}
	}
	if b, _ := (FileMode{FileMode: 0o644}).MarshalText(); string(b) != "0644" {
		t.Errorf("MarshalText = %s", b)
	}
}

func TestErrorFormat(t *testing.T) {
	cases := map[string]*Error{
		`a.toml:3: cert "web": key "mode": too loose (use 0600)`: {File: "a.toml", Line: 3, Section: `cert "web"`, Key: "mode", Msg: "too loose", Fix: "use 0600"},
		`a.toml: agent: bad`: {File: "a.toml", Section: "agent", Msg: "bad"},
		`key "x": bad (fix)`: {Key: "x", Msg: "bad", Fix: "fix"},
		`line 4: bad`:        {Line: 4, Msg: "bad"},
	}
	for want, e := range cases {
		if got := e.Error(); got != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
	es := Errors{{File: "b", Line: 1, Msg: "x"}, {File: "a", Line: 9, Msg: "y"}, {File: "a", Line: 2, Msg: "z"}}
	es.Sort()
	if got := es.Error(); got != "a:2: z\na:9: y\nb:1: x" {
		t.Errorf("sorted = %q", got)
	}
}

package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

func (v *validator) cert(name string, ct *Cert) {
	path := []string{"certs", name}
	section := fmt.Sprintf("cert %q", name)
	at := func(key string, ve *valueError) {
		if ve != nil {
			v.errAt(path, section, key, ve)
		}
	}
	at("", checkName(name))
	is := v.certIssuers(ct, at)
	v.sans(ct, v.c.strictest(ct, "acme", is), at)
	if len(ct.Usage) == 0 {
		at("usage", badValue(`use usage = ["server"], ["client"] or ["server", "client"]`, "usage is empty"))
	}
	seen := map[string]bool{}
	for _, u := range ct.Usage {
		if u != "server" && u != "client" {
			at("usage", badValue(`use "server" and/or "client"`, "unknown usage %s", quoteShort(u)))
		} else if seen[u] {
			at("usage", badValue("list each usage once", "usage %q is listed twice", u))
		}
		seen[u] = true
	}
	at("key_type", v.keyType(ct.KeyType))
	v.lifetime(ct, v.c.strictest(ct, "local", is), at)
	if ct.KeyFile == "" {
		at("key_file", badValue(`add e.g. key_file = "/etc/myservice/tls/key.pem"`, "missing key_file"))
	}
	if ct.CertFile == "" {
		at("cert_file", badValue(`add e.g. cert_file = "/etc/myservice/tls/cert.pem"`, "missing cert_file"))
	}
	for _, kv := range ct.outputs() {
		at(kv[0], checkPath(kv[1]))
	}
	v.ownership(ct, at)
	v.modes(ct, at)
	v.actions(ct.Units, ct.Action, ct.Exec, ct.ExecTimeout, at)
	v.stageHook("pre_exec", ct.PreExec, at)
	v.stageHook("on_failure", ct.OnFailure, at)
	v.formats(ct, at)
	v.stepCert(ct, is, at)
	v.crl(ct, at)
	v.presetRules(ct, at)
	v.reuseKey(ct, at)
}

func issuerFix(c *Config) string {
	if len(c.Issuers) == 0 {
		return "define an [issuers.NAME] table and set issuer = \"NAME\""
	}
	return "define it as [issuers.NAME] or use one of: " + strings.Join(c.IssuerNames(), ", ")
}

func (v *validator) sans(ct *Cert, is *Issuer, at func(string, *valueError)) {
	if len(ct.DNSNames)+len(ct.IPAddresses) == 0 {
		at("dns_names", badValue(`add at least one name, e.g. dns_names = ["host.example.com"] or ip_addresses = ["10.0.0.5"]`,
			"no dns_names or ip_addresses"))
	}
	for _, n := range ct.DNSNames {
		at("dns_names", checkDNSName(n))
	}
	ct.IPs = nil
	for _, s := range ct.IPAddresses {
		ip := net.ParseIP(s)
		if ip == nil {
			at("ip_addresses", badValue(`use a literal IPv4 or IPv6 address, e.g. "10.0.0.5" or "::1"`, "invalid IP address %s", quoteShort(s)))
			continue
		}
		if ip4 := ip.To4(); ip4 != nil {
			ip = ip4
		}
		ct.IPs = append(ct.IPs, ip)
	}
	if len(ct.CommonName) > 64 {
		at("common_name", badValue("use at most 64 characters; long names belong in dns_names", "common name %s is too long", quoteShort(ct.CommonName)))
	} else if is != nil && is.Type == "acme" && ct.CommonName != "" &&
		!hasString(ct.DNSNames, ct.CommonName) && !hasString(ct.IPAddresses, ct.CommonName) {
		at("common_name", badValue("use one of dns_names, or leave common_name unset", "common name %s is not one of the cert's names, which ACME CAs refuse", quoteShort(ct.CommonName)))
	}
}

// lifetime checks validity and parses renew_before.
func (v *validator) lifetime(ct *Cert, is *Issuer, at func(string, *valueError)) {
	ct.RenewBeforeDuration, ct.RenewBeforeFraction = 0, 0
	local := is != nil && is.Type == "local"
	switch {
	case is != nil && is.Type == "acme" && ct.Validity.Set:
		at("validity", badValue("remove it; the ACME CA (or its profile) decides the lifetime", "validity only applies to certs from a local issuer"))
	case local && ct.Validity.Duration < minCertValidity:
		at("validity", badValue(`use at least "1m"; the default is "90d"`, "validity %s is shorter than 1m", ct.Validity.Duration))
	case local && is.Validity.Duration >= minCAValidity && ct.Validity.Duration > is.Validity.Duration:
		at("validity", badValue("shorten it, or lengthen the issuer's validity", "validity %s is longer than issuer %q's own validity %s",
			fmtDays(ct.Validity.Duration), is.Name, fmtDays(is.Validity.Duration)))
	}
	rb := strings.TrimSpace(ct.RenewBefore)
	if rb == "" {
		return
	}
	if pct, ok := strings.CutSuffix(rb, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
		if err != nil || !(f > 0 && f < 100) {
			at("renew_before", badValue(`use a share of the lifetime above 0% and below 100%, e.g. "33%"`, "bad renew_before %s", quoteShort(ct.RenewBefore)))
			return
		}
		ct.RenewBeforeFraction = f / 100
		return
	}
	d, ve := parseDuration(rb)
	if ve != nil {
		ve.fix = `use a duration such as "20d" or a share of the lifetime such as "33%"`
		at("renew_before", ve)
		return
	}
	if d <= 0 {
		at("renew_before", badValue(`use a positive duration such as "20d", or leave it empty`, "renew_before must be longer than zero"))
		return
	}
	if local && ct.Validity.Duration > 0 && d >= ct.Validity.Duration {
		at("renew_before", badValue("use a value shorter than validity, or a share such as \"33%\"",
			"renew_before %s is not less than validity %s, so the cert would always be due", fmtDays(d), fmtDays(ct.Validity.Duration)))
		return
	}
	ct.RenewBeforeDuration = d
}

// fmtDays prints whole-day durations as "90d", others in Go syntax.
func fmtDays(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	return d.String()
}

func (v *validator) ownership(ct *Cert, at func(string, *valueError)) {
	ct.UID, ct.GID = -1, -1
	if ct.Owner != "" {
		id, ve := v.lookupOwner(ct.Owner, false)
		at("owner", ve)
		ct.UID = id
	}
	if ct.Group != "" {
		id, ve := v.lookupOwner(ct.Group, true)
		at("group", ve)
		ct.GID = id
	}
}

func (v *validator) modes(ct *Cert, at func(string, *valueError)) {
	for _, m := range []struct {
		key       string
		mode      os.FileMode
		need      os.FileMode
		needWords string
	}{
		{"mode", ct.Mode.FileMode, 0o400, `include the owner's read bit, e.g. "0600"`},
		{"cert_mode", ct.CertMode.FileMode, 0o400, `include the owner's read bit, e.g. "0644"`},
		{"dir_mode", ct.DirMode.FileMode, 0o500, `include the owner's read and execute bits, e.g. "0755"`},
	} {
		if m.key == "cert_mode" && !ct.CertMode.Set && ct.CertMode.FileMode == ct.Mode.FileMode {
			continue // inherited from mode: reported there
		}
		switch {
		case m.mode&^0o777 != 0:
			at(m.key, badValue(`setuid, setgid and sticky bits are not allowed; use e.g. "0600"`, "mode %04o has bits beyond 0777", uint32(m.mode)))
		case m.mode&m.need != m.need:
			at(m.key, badValue(m.needWords, "mode %04o does not let the owner use the file", uint32(m.mode)))
		}
	}
	if m := ct.Mode.FileMode; m&^0o777 == 0 && m&^0o600 != 0 && !ct.AllowInsecureMode {
		at("mode", badValue(`use "0600" or stricter, or set allow_insecure_mode = true; cert_mode may be looser for public files`,
			"mode %04o is looser than 0600 for a private key", uint32(m)))
	}
}

// actions checks what happens after a change: units, action and hooks.
func (v *validator) actions(units []string, action string, exec []string, timeout Duration, at func(string, *valueError)) {
	for _, u := range units {
		at("units", checkUnitName(u))
	}
	at("action", oneOf(action, "action", actions))
	if len(exec) > 0 {
		for _, a := range exec {
			if strings.ContainsAny(a, "\x00\n\r") {
				at("exec", badValue("remove the control character", "exec argument %s contains a NUL or newline", quoteShort(a)))
			}
		}
		if !filepath.IsAbs(exec[0]) {
			at("exec", badValue("use the program's absolute path, e.g. \"/usr/local/bin/reload-certs\"; hooks do not search $PATH",
				"exec program %s is not an absolute path", quoteShort(exec[0])))
		} else if !v.opts.SkipFileChecks {
			at("exec", checkHook(exec))
		}
	}
	at("exec_timeout", positive(timeout, "exec_timeout", "60s"))
}

func (v *validator) watch(name string, w *Watch) {
	path := []string{"watch", name}
	section := fmt.Sprintf("watch %q", name)
	at := func(key string, ve *valueError) {
		if ve != nil {
			v.errAt(path, section, key, ve)
		}
	}
	at("", checkName(name))
	if w.CertFile == "" {
		at("cert_file", badValue(`add the path to watch, e.g. cert_file = "/etc/letsencrypt/live/web/fullchain.pem"`, "missing cert_file"))
	} else {
		at("cert_file", checkPath(w.CertFile))
	}
	if w.KeyFile != "" {
		at("key_file", checkPath(w.KeyFile))
	}
	v.actions(w.Units, w.Action, w.Exec, w.ExecTimeout, at)
}

// owner of one path: which table and key names it.
type pathUse struct {
	kind, name, key string
	pos             srcPos
	path            string
}

func (u pathUse) section() string { return fmt.Sprintf("%s %q", u.kind, u.name) }

// paths rejects any file named twice: by two certs, twice in one cert, by
// a cert and a watch entry, or by two watch entries. Each use after the
// first (in file order) is reported, naming the first.
func (v *validator) paths() {
	uses := make([]pathUse, 0, 2*len(v.c.Certs)+2*len(v.c.Watch)) // a cert has a cert and a key file at least
	add := func(kind, top, name, key, p string) {
		if p == "" || checkPath(p) != nil {
			return
		}
		uses = append(uses, pathUse{kind, name, key, v.c.where(top, name, key), p})
	}
	for name, ct := range v.c.Certs {
		if ct != nil {
			for _, kv := range ct.outputs() {
				add("cert", "certs", name, kv[0], kv[1])
			}
			add("cert", "certs", name, "crl_file", ct.CRLFile)
		}
	}
	for name, w := range v.c.Watch {
		if w != nil {
			add("watch", "watch", name, "cert_file", w.CertFile)
			add("watch", "watch", name, "key_file", w.KeyFile)
		}
	}
	v.dupPaths(uses)
}

func (v *validator) dupPaths(uses []pathUse) {
	fileIdx := map[string]int{}
	for i, f := range v.c.Files {
		fileIdx[f] = i
	}
	// Managed outputs come first, so a clash with a watch entry is
	// reported on the watch entry.
	sort.Slice(uses, func(i, j int) bool {
		a, b := uses[i], uses[j]
		if a.kind != b.kind {
			return a.kind == "cert"
		}
		if a.pos.file != b.pos.file {
			return fileIdx[a.pos.file] < fileIdx[b.pos.file]
		}
		if a.pos.line != b.pos.line {
			return a.pos.line < b.pos.line
		}
		if a.kind+a.name != b.kind+b.name {
			return a.kind+a.name < b.kind+b.name
		}
		return a.key < b.key
	})
	first := make(map[string]pathUse, len(uses))
	for _, u := range uses {
		p := u.path
		clean := filepath.Clean(p)
		f, dup := first[clean]
		if !dup {
			first[clean] = u
			continue
		}
		if v.sharedCRL(f, u) {
			continue // certs of one issuer may share their issuer's CRL
		}
		where := f.pos.file
		if f.pos.line > 0 {
			where += ":" + strconv.Itoa(f.pos.line)
		}
		msg := fmt.Sprintf("%s is also %s's %s (%s)", p, f.section(), f.key, where)
		fix := "give each cert its own output files"
		switch {
		case u.kind == "watch" && f.kind == "cert":
			fix = "certagent already watches the files it manages; remove the watch entry"
		case u.kind == "watch":
			fix = "watch each file from one entry only"
		}
		v.col.add(&Error{File: u.pos.file, Line: u.pos.line, Section: u.section(), Key: u.key, Msg: msg, Fix: fix})
	}
}

package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// fakeUsers knows root, www-data (33) and the group ssl-cert (110).
var testOpts = Options{
	SkipFileChecks: true,
	LookupUser: func(n string) (int, error) {
		switch n {
		case "root":
			return 0, nil
		case "www-data":
			return 33, nil
		}
		return -1, fmt.Errorf("no such user")
	},
	LookupGroup: func(n string) (int, error) {
		switch n {
		case "root":
			return 0, nil
		case "ssl-cert":
			return 110, nil
		}
		return -1, fmt.Errorf("no such group")
	},
}

// certTOML builds a file with a local issuer "ca" and a cert "web". Each
// kv is a `key = value` line for the cert; the required keys get valid
// values unless given, and "-key" removes one.
func certTOML(kv ...string) string {
	base := map[string]string{
		"issuer":    `"ca"`,
		"dns_names": `["web.example.com"]`,
		"cert_file": `"/srv/web/cert.pem"`,
		"key_file":  `"/srv/web/key.pem"`,
	}
	var extra []string
	for _, l := range kv {
		if k, ok := strings.CutPrefix(l, "-"); ok {
			delete(base, k)
			continue
		}
		k, _, _ := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if _, ok := base[k]; ok {
			base[k] = strings.TrimSpace(l[strings.Index(l, "=")+1:])
			continue
		}
		extra = append(extra, l)
	}
	var b strings.Builder
	b.WriteString("[issuers.ca]\ntype = \"local\"\n\n[certs.web]\n")
	keys := make([]string, 0, len(base))
	for k := range base {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s = %s\n", k, base[k])
	}
	for _, l := range extra {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// errLines returns each error's text without its location, or nil.
func errLines(t *testing.T, err error, withLoc bool) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	var es *Errors
	if !errors.As(err, &es) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	var out []string
	for _, e := range *es {
		if !withLoc {
			c := *e
			c.File, c.Line = "", 0
			e = &c
		}
		out = append(out, e.Error())
	}
	return out
}

func sameLines(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors differ\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

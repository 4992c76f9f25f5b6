package config

import (
	"reflect"
	"strconv"
	"strings"
)

// IssuerNames is the issuer key of a cert: one name, or an ordered list
// of names whose first entry is the primary issuer and the others its
// fallbacks.
type IssuerNames []string

// DefaultFallbackWait is fallback_wait's default.
const DefaultFallbackWait = "10%"

var issuerNamesType = reflect.TypeOf(IssuerNames{})

// setIssuerNames decodes issuer = "NAME" or issuer = ["A", "B"].
func setIssuerNames(f reflect.Value, key string, v any) *valueError {
	if s, ok := v.(string); ok {
		f.Set(reflect.ValueOf(IssuerNames{s}))
		return nil
	}
	if _, ok := v.([]any); !ok {
		return badValue(`write issuer = "NAME", or an ordered list issuer = ["primary", "fallback"]`,
			"expected a string or an array of strings, got %s", describe(v))
	}
	return setStrings(f, key, v)
}

// normalizeIssuers makes Issuer the first of IssuerList (or, for a Cert
// built in code with only Issuer, the list of that one name).
func normalizeIssuers(ct *Cert) {
	switch {
	case len(ct.IssuerList) > 0:
		ct.Issuer = ct.IssuerList[0]
	case ct.Issuer != "":
		ct.IssuerList = IssuerNames{ct.Issuer}
	}
}

// issuerOfType returns the first issuer of ct's list with type typ.
func (c *Config) issuerOfType(ct *Cert, typ string) *Issuer {
	for _, n := range ct.IssuerList {
		if is := c.Issuers[n]; is != nil && is.Type == typ {
			return is
		}
	}
	return nil
}

// strictest picks the issuer whose rules a cert's keys are checked
// against when the list mixes types: an ACME one for names (ACME CAs
// refuse a common name outside the SANs), a local one for validity
// (which only a local CA honours). Otherwise the primary.
func (c *Config) strictest(ct *Cert, typ string, primary *Issuer) *Issuer {
	if is := c.issuerOfType(ct, typ); is != nil {
		return is
	}
	return primary
}

// certIssuers checks the issuer list and fallback_wait, and returns the
// primary issuer, or nil.
func (v *validator) certIssuers(ct *Cert, at func(string, *valueError)) *Issuer {
	normalizeIssuers(ct)
	if len(ct.IssuerList) == 0 || ct.Issuer == "" {
		at("issuer", badValue(issuerFix(v.c), "missing issuer"))
		return nil
	}
	seen := map[string]bool{}
	for _, n := range ct.IssuerList {
		switch {
		case n == "":
			at("issuer", badValue(issuerFix(v.c), "empty issuer name in the list"))
		case seen[n]:
			at("issuer", badValue("list each issuer once", "issuer %s is listed twice", quoteShort(n)))
		case v.c.Issuers[n] == nil:
			at("issuer", badValue(issuerFix(v.c), "unknown issuer %s", quoteShort(n)))
		}
		seen[n] = true
	}
	ct.FallbackWaitFraction = 0
	pct, ok := strings.CutSuffix(strings.TrimSpace(ct.FallbackWait), "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
	if !ok || err != nil || f < 0 || f > 100 {
		at("fallback_wait", badValue(`use a share of the remaining lifetime from 0% to 100%, e.g. "10%"`,
			"bad fallback_wait %s", quoteShort(ct.FallbackWait)))
	} else {
		ct.FallbackWaitFraction = f / 100
	}
	return v.c.Issuers[ct.Issuer]
}

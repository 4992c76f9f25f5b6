//go:build !dnsrfc2136 && !dnsall

package acme

// The default build's rfc2136 is the in-house HMAC-TSIG provider
// (rfc2136.go); -tags dnsrfc2136 or dnsall use lego's, which adds GSS-TSIG.
func init() {
	defaultDNSProviders["rfc2136"] = newRFC2136Provider
}

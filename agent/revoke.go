package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// RevocationReason is an RFC 5280 CRLReason code (section 5.3.1).
type RevocationReason int

// The reasons `certagent revoke --reason` accepts, with their RFC 5280
// codes.
const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
)

var reasonNames = map[string]RevocationReason{
	"unspecified":          ReasonUnspecified,
	"keyCompromise":        ReasonKeyCompromise,
	"affiliationChanged":   ReasonAffiliationChanged,
	"superseded":           ReasonSuperseded,
	"cessationOfOperation": ReasonCessationOfOperation,
}

// ParseReason maps an RFC 5280 reason name (as spelt there, e.g.
// "keyCompromise") to its code.
func ParseReason(s string) (RevocationReason, error) {
	if r, ok := reasonNames[s]; ok {
		return r, nil
	}
	return 0, fmt.Errorf("unknown revocation reason %q (use one of: %s)", s, strings.Join(ReasonNames(), ", "))
}

// ReasonNames lists the accepted reason names, sorted.
func ReasonNames() []string {
	out := make([]string, 0, len(reasonNames))
	for n := range reasonNames {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// String is the RFC 5280 name of the reason.
func (r RevocationReason) String() string {
	for n, c := range reasonNames {
		if c == r {
			return n
		}
	}
	return fmt.Sprintf("reason-%d", int(r))
}

// RevokeRequest is what the agent asks a Revoker to revoke. Revokers
// must not mutate it.
type RevokeRequest struct {
	// Name is the cert's name in the config, for logs.
	Name string
	// Cert is the certificate on disk to revoke.
	Cert *x509.Certificate
	// Chain holds the intermediates found next to it, issuer first; it
	// may be empty (the issuer then knows its own CA).
	Chain []*x509.Certificate
	// Reason is the RFC 5280 reason to record.
	Reason RevocationReason
	// Key is Cert's own private key, for an issuer that authenticates a
	// revocation with the pair being revoked (step-ca over mutual TLS);
	// nil when it cannot be read (remove_key_after_start, a wrong
	// key_password), and always nil for issuers that do not renew with
	// the current key (KeyRenewer). Such an issuer then fails with a
	// clear error.
	Key crypto.Signer
}

// Revoker is implemented by issuers that can revoke what they issued.
// The agent checks for it with a type assertion; an issuer without it
// makes `certagent revoke` fail with "issuer cannot revoke".
//
// Contract: Revoke returns nil only once the issuer has recorded the
// revocation durably (the CA accepted it, or a local CA's list and CRL
// are on disk); a serial that is already revoked is success, so a revoke
// repeated after a crash converges. On error nothing was revoked as far
// as the caller can tell, and the error carries the CA's own problem
// text. It honours ctx, writes only in its own state directory, and is
// safe for concurrent use. It never deletes or replaces the cert's files:
// the agent re-issues afterwards.
type Revoker interface {
	Revoke(ctx context.Context, req RevokeRequest) error
}

// ReissueFirstRevoker is a Revoker whose CA authenticates a revocation
// with the revoked pair itself and, once it is revoked, refuses that pair
// for renewal too (step-ca: the revoked cert's mutual TLS is what proves
// the host to the CA). Revoking first would leave the host with no way
// to its replacement. For such an issuer (RevokesAfterReissue true) the
// agent reverses the order: it records the revocation as pending, issues
// and deploys the new pair, and only then calls Revoke with the old cert
// and the old key from the store's previous set. A Revoke that fails
// then leaves the new pair in place and the old serial revoke_pending;
// the pending record is durable and every pass retries it
// (revokepending.go). Revoke itself keeps the Revoker contract.
type ReissueFirstRevoker interface {
	Revoker
	RevokesAfterReissue() bool
}

// ErrNoCRL marks a CRLSource error meaning the issuer publishes no CRL
// covering that certificate (an ACME leaf with no CRL Distribution
// Point), as opposed to a CRL that could not be fetched.
var ErrNoCRL = errors.New("the issuer publishes no CRL for this certificate")

// CRLSource is implemented by issuers that can provide the current CRL
// for their certificates, written to a cert's crl_file.
//
// Contract: CRL returns the DER of the newest CRL covering leaf (nil when
// the issuer keeps none for certs it did not issue yet), refreshing it
// first when it is past half its validity. It does not verify its own
// answer: the agent checks the signature against the leaf's issuer and
// the dates before writing. An error wraps ErrNoCRL when there is no CRL
// to fetch at all. It honours ctx and is safe for concurrent use.
type CRLSource interface {
	CRL(ctx context.Context, leaf *x509.Certificate, chain []*x509.Certificate) ([]byte, error)
}

// RevocationMetrics is implemented by a Metrics that also counts
// revocations (agent/metrics does); result is "success" or "failure".
type RevocationMetrics interface {
	Revocation(cert, reason, result string)
}

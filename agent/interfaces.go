// Package agent is certagent's domain: it decides when each certificate is
// due, asks an Issuer for a new one, writes it crash-safely and asks a
// Restarter to act on the units that use it. It imports neither lego nor
// D-Bus; cmd/certagent wires the implementations of the interfaces below.
//
// What certagent knows about one cert is a certState (state.go), changed
// only through its transitions (statetrans.go): observe a reading of the
// files, plan the renewal, record a failure or a success, adopt a record
// that another process wrote to status.json, and produce a status row
// (status.go). Reading the files is a pure function of the files and the
// config (stateinspect.go), and status.json has one reader
// (statusfile.go). Agent is the side-effecting shell around these: it
// holds the state dir lock and the store, calls the issuers, acts on
// units, runs the watcher, and logs what the transitions report.
// `certagent status` without a daemon (StatusFromDisk, statusdisk.go)
// runs the same inspection and transitions without an Agent.
package agent

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// KeyType names a private key algorithm and size; see pki.KeyType.
type KeyType = pki.KeyType

// The key types certagent can generate.
const (
	KeyEC256   = pki.KeyEC256
	KeyEC384   = pki.KeyEC384
	KeyRSA2048 = pki.KeyRSA2048
	KeyRSA3072 = pki.KeyRSA3072
	KeyRSA4096 = pki.KeyRSA4096
	KeyEd25519 = pki.KeyEd25519
)

// Request is what the agent asks an Issuer for. Issuers must not mutate it.
type Request struct {
	// Name is the cert's name in the config, for logs and for issuers
	// that keep per-cert state.
	Name        string
	CommonName  string
	DNSNames    []string
	IPAddresses []net.IP
	// ServerAuth and ClientAuth select the extended key usages.
	ServerAuth bool
	ClientAuth bool
	KeyType    KeyType
	// Validity is the requested lifetime; zero lets the issuer choose.
	// ACME issuers ignore it (the CA or profile decides).
	Validity time.Duration
	// StagingDir is a private (0700) directory that exists for this one
	// attempt only. An issuer that needs scratch files (CSR, temp key,
	// downloaded bundle) must put them there; the agent deletes it after
	// success, failure or crash. It is "" for a StagingFree issuer.
	StagingDir string
	// Current is the certificate on disk that this request replaces, or
	// nil. ACME issuers use it for the ARI "replaces" field.
	Current *x509.Certificate
	// CurrentKey is Current's private key, filled when the key on disk
	// matches Current and either the issuer implements KeyRenewer
	// (step-ca renews over mutual TLS with it) or ReuseKey is set.
	CurrentKey crypto.Signer
	// ReuseKey asks to keep the current key (the cert's reuse_key). The
	// agent sets it only when CurrentKey is still of KeyType, within the
	// key policy and not compromised (reusekey.go); the local CA and
	// ACME issuers then certify CurrentKey instead of a new key.
	ReuseKey bool
}

// StagingFree is implemented by issuers that never write scratch files
// (the local CA signs in memory): the agent creates no staging directory
// for their requests. A directory made and deleted per cert is not free:
// ext4 skips recently deleted inodes when it allocates, which made every
// later file creation of a large pass slower.
type StagingFree interface {
	NoStaging()
}

// Bundle is a freshly issued certificate with its private key.
type Bundle struct {
	// Key is the new private key (*ecdsa.PrivateKey, *rsa.PrivateKey or
	// ed25519.PrivateKey). The agent encodes it in the configured format.
	Key crypto.Signer
	// Leaf is the issued certificate.
	Leaf *x509.Certificate
	// Chain holds the intermediates in the order the CA returned them,
	// leaf excluded, root normally excluded.
	Chain []*x509.Certificate
	// Roots are the issuer's trust anchors, written to ca_file.
	Roots []*x509.Certificate
	// SignedBy, when not nil, is the CA cert whose key signed Leaf in
	// this process, the signature checked against that key as it was
	// made (see pki.Vouched): the agent does not check that signature
	// again. Only an in-process signer (the local CA) may set it; an
	// issuer that receives its certs from elsewhere leaves it nil.
	SignedBy *x509.Certificate

	// Set by the agent, not by issuers (see fallback.go): the name of
	// the issuer that issued, and the roots of the cert's other issuers,
	// which ca_file holds too.
	issuer     string
	otherRoots []*x509.Certificate
}

// Issuer obtains certificates. Implementations: the local CA
// (agent/localca) and ACME (acme/).
//
// Contract: Issue is safe for concurrent use; it honours ctx cancellation
// and returns promptly when ctx is done; it never writes outside
// req.StagingDir and its own state directory; on error it returns no
// partial Bundle. Errors that carry a CA-imposed retry time implement
// RetryAfter (see RetryAfterError).
type Issuer interface {
	Issue(ctx context.Context, req Request) (*Bundle, error)
	// Roots returns the trust anchors of this issuer, used to decide
	// whether a cert on disk was issued by it and to fill ca_file.
	// ACME issuers may return nil when they only know the system roots.
	Roots(ctx context.Context) ([]*x509.Certificate, error)
}

// RenewalWindow is a suggested renewal window from ACME Renewal
// Information (RFC 9773).
type RenewalWindow struct {
	Start, End time.Time
	// RetryAfter is when the CA asks to be polled again.
	RetryAfter time.Time
	// ExplanationURL is optional.
	ExplanationURL string
}

// RenewalInfoer is implemented by issuers that can fetch ARI windows.
// A nil window with a nil error means the CA offers no ARI.
type RenewalInfoer interface {
	RenewalInfo(ctx context.Context, cert *x509.Certificate, issuer *x509.Certificate) (*RenewalWindow, error)
}

// RetryAfterError is an issuance failure for which the CA named the
// earliest retry time (ACME rateLimited, HTTP 429 Retry-After). The agent
// honours it exactly instead of its own backoff.
type RetryAfterError struct {
	Until time.Time
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.Until.UTC().Format(time.RFC3339))
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter reports the time a CA asked us to wait until, if err carries one.
func RetryAfter(err error) (time.Time, bool) {
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return ra.Until, true
	}
	return time.Time{}, false
}

// Action is what is done to a systemd unit after its certs changed.
type Action string

// Unit actions, named as systemctl names them.
const (
	ActionRestart         Action = "restart"
	ActionReload          Action = "reload"
	ActionTryRestart      Action = "try-restart"
	ActionReloadOrRestart Action = "reload-or-restart"
)

// ActOptions tune one unit action.
type ActOptions struct {
	// StartIfInactive acts on a unit that is not active; by default such
	// a unit is left alone because an operator stopped it on purpose.
	StartIfInactive bool
	// Settle is how long the unit may take to become active after the job.
	Settle time.Duration
}

// Verdict says what a unit action achieved.
type Verdict struct {
	// Skipped is true when the unit was inactive and left alone.
	Skipped bool
	// ActiveState and Result are systemd's properties after the action.
	ActiveState string
	Result      string
	// InvocationID is the unit's invocation after the action.
	InvocationID string
}

// Restarter acts on systemd units. Implementation: units/ (D-Bus).
//
// Contract: Act returns only after the job finished and the unit settled
// (or Settle elapsed); a non-nil error means the unit is not healthy after
// the action and the Verdict says why. When the service manager could
// not be reached at all, the error wraps ErrUnavailable and the Verdict is
// zero: the agent keeps the action pending and retries it later. It is
// safe for concurrent use on different units.
type Restarter interface {
	Act(ctx context.Context, unit string, action Action, opts ActOptions) (Verdict, error)
}

// ErrUnavailable marks a Restarter error where the service manager could not
// be reached (D-Bus down), as opposed to a unit that failed.
var ErrUnavailable = errors.New("service manager unavailable")

// Clock is the agent's source of wall-clock time. Tests inject a clock
// that jumps; production uses SystemClock. Timers use the time package,
// so testing/synctest can drive them.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real wall clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

package agent

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// Phases of a CA rotation, in order (docs/local-ca.md). Each transition
// is one atomic write of the rotation record, so a kill at any instant
// resumes in the phase last recorded.
const (
	// PhasePublish: the new CA exists; leaves still come from the old
	// one; every ca_file is given both roots.
	PhasePublish = "publish"
	// PhaseReissue: every ca_file holds both roots; leaves come from the
	// new CA and the old ones are replaced, spread over the first half of
	// the overlap.
	PhaseReissue = "reissue"
	// PhaseRetire: no leaf from the old CA is left and the overlap has
	// passed; the old root is taken out of every ca_file.
	PhaseRetire = "retire"
	// PhaseSwap: the new CA's files replace the old ones in the CA
	// directory (the old key is deleted, or kept aside).
	PhaseSwap = "swap"
	// PhaseCleanup: the swap is done; leftovers are removed and the
	// record last.
	PhaseCleanup = "cleanup"
)

// CARotationFile is the rotation record in the CA's directory
// (state_dir/ca/<issuer>/); absent when no rotation is under way.
const CARotationFile = "rotation.json"

// CARotation is the record of a CA rotation under way. Its JSON form is
// both the journal in the CA directory and the ca_rotation object of
// `certagent status --json` (docs/status.md): fields are only added.
type CARotation struct {
	Phase string `json:"phase"`
	// Reason is "operator" (certagent ca rotate) or "age" (rotate_at).
	Reason    string    `json:"reason"`
	StartedAt time.Time `json:"started_at"`
	// ReissueFrom is when every ca_file held both roots (zero before).
	ReissueFrom time.Time `json:"reissue_from,omitzero"`
	// Overlap is how long both roots stay published, from ReissueFrom.
	Overlap    Seconds `json:"overlap_seconds"`
	OldSerial  string  `json:"old_ca_serial"`
	NewSerial  string  `json:"new_ca_serial"`
	KeepOldKey bool    `json:"keep_old_key,omitempty"`

	// Old and New are the two CA certificates, filled by CARotator.Rotation.
	Old *x509.Certificate `json:"-"`
	New *x509.Certificate `json:"-"`
}

// Seconds is a duration written as whole seconds in JSON.
type Seconds int64

// Duration converts s.
func (s Seconds) Duration() time.Duration { return time.Duration(s) * time.Second }

// OverlapEnds is when the old root may leave the bundles (once no old
// leaf is left); zero before the re-issue phase.
func (r *CARotation) OverlapEnds() time.Time {
	if r == nil || r.ReissueFrom.IsZero() {
		return time.Time{}
	}
	return r.ReissueFrom.Add(r.Overlap.Duration())
}

// RotationStart is what starting a rotation needs.
type RotationStart struct {
	Reason     string
	Overlap    time.Duration
	KeepOldKey bool
}

// CARotator is implemented by issuers that rotate their own CA (the
// local CA). Contract: every method reads the record from disk, so a
// rotation started by another process is seen; callers hold the state
// dir lock for StartRotation and AdvanceRotation; each call leaves the
// record in a phase from which any later call resumes.
type CARotator interface {
	// Rotation returns the rotation under way with both CA certs, or nil.
	Rotation(ctx context.Context) (*CARotation, error)
	// CACert is the CA certificate leaves come from now; nil when the CA
	// does not exist yet (it is not created).
	CACert(ctx context.Context) (*x509.Certificate, error)
	// StartRotation makes the new key and CA certificate and records the
	// publish phase; a rotation already under way is returned as is.
	StartRotation(ctx context.Context, req RotationStart) (*CARotation, error)
	// AdvanceRotation leaves phase from for the next one at now; from
	// retire, swap or cleanup it runs to the end (no record left).
	AdvanceRotation(ctx context.Context, from string, now time.Time) error
}

// ReadCARotation reads the rotation record of the local issuer named
// issuer for read-only callers (status without the daemon); nil when
// there is none.
func ReadCARotation(stateDir, issuer string) (*CARotation, error) {
	return ReadCARotationFile(filepath.Join(stateDir, "ca", issuer, CARotationFile))
}

// ReadCARotationFile reads the rotation record at p; nil when absent.
func ReadCARotationFile(p string) (*CARotation, error) {
	b, err := pki.ReadFileLimited(p, pki.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r CARotation
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s is damaged: %w", p, err)
	}
	return &r, nil
}

package agent

import (
	"crypto/x509"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
)

// CARotationStatus is the ca_rotation object of a cert's status row
// while its local issuer's CA is being rotated (docs/status.md).
type CARotationStatus struct {
	Phase       string    `json:"phase"`
	Reason      string    `json:"reason"`
	StartedAt   time.Time `json:"started_at"`
	ReissueFrom time.Time `json:"reissue_from,omitzero"`
	OverlapEnds time.Time `json:"overlap_ends,omitzero"`
	OldSerial   string    `json:"old_ca_serial"`
	NewSerial   string    `json:"new_ca_serial"`
	// LeafFrom is "old" or "new": which CA signed the cert on disk.
	LeafFrom string `json:"leaf_from,omitempty"`
	// ReissueAt is when this cert's leaf from the old CA is replaced.
	ReissueAt time.Time `json:"reissue_at,omitzero"`
	// Error says why the rotation could not go on at the last pass.
	Error string `json:"error,omitempty"`
}

// rotationRow is the ca_rotation object of st's row, or nil.
func (a *Agent) rotationRow(st *certState) *CARotationStatus { return rotationRow(a.rotations, st) }

// rotationRow is the ca_rotation object of st's row given what is known
// of each issuer's rotation, or nil.
func rotationRow(rotations map[string]*rotationState, st *certState) *CARotationStatus {
	rs := rotations[st.cfg.Issuer]
	if rs == nil || (rs.rec == nil && rs.err == "") {
		return nil
	}
	out := &CARotationStatus{Error: rs.err}
	r := rs.rec
	if r == nil {
		out.Phase = "error"
		return out
	}
	out.Phase, out.Reason, out.StartedAt = r.Phase, r.Reason, r.StartedAt.UTC()
	out.ReissueFrom, out.OverlapEnds = r.ReissueFrom.UTC(), r.OverlapEnds().UTC()
	if r.ReissueFrom.IsZero() {
		out.ReissueFrom, out.OverlapEnds = time.Time{}, time.Time{}
	}
	out.OldSerial, out.NewSerial = r.OldSerial, r.NewSerial
	var leaf *x509.Certificate
	if st.leaf != nil && r.Old != nil && r.New != nil {
		leaf, _, _ = rereadLeaf(st)
	}
	if leaf != nil {
		switch {
		case fromCA(leaf, r.New):
			out.LeafFrom = "new"
		case fromCA(leaf, r.Old):
			out.LeafFrom = "old"
			if r.Phase == PhaseReissue {
				out.ReissueAt = rotationSlot(st.name, r.ReissueFrom, r.Overlap.Duration()/2).UTC()
			}
		}
	}
	return out
}

// rotationsFromDisk is what status without a daemon knows of each local
// issuer's rotation: its record, with both CA certs when they are where
// the phase says (read only, nothing created).
func rotationsFromDisk(cfg *config.Config) map[string]*rotationState {
	rotations := map[string]*rotationState{}
	for name, ic := range cfg.Issuers {
		if ic == nil || ic.Type != "local" {
			continue
		}
		rec, err := ReadCARotation(cfg.Agent.StateDir, name)
		if err != nil {
			rotations[name] = &rotationState{err: err.Error()}
			continue
		}
		if rec == nil {
			continue
		}
		dir := filepath.Join(cfg.Agent.StateDir, "ca", name)
		if rec.Phase == PhasePublish || rec.Phase == PhaseReissue || rec.Phase == PhaseRetire {
			rec.Old = firstCert(filepath.Join(dir, "ca.crt"))
			rec.New = firstCert(filepath.Join(dir, "next.crt"))
		}
		rotations[name] = &rotationState{rec: rec}
	}
	return rotations
}

func firstCert(p string) *x509.Certificate {
	b, err := pki.ReadFileLimited(p, pki.MaxFileSize)
	if err != nil {
		return nil
	}
	cs, err := pki.ParseCertsPEM(b)
	if err != nil || len(cs) == 0 {
		return nil
	}
	return cs[0]
}

// rotationWake is the earliest time a rotation needs a pass: the end of
// the overlap (the old root then leaves the bundles).
func (a *Agent) rotationWake() time.Time {
	var t time.Time
	for _, rs := range a.rotations {
		if rs.rec != nil && rs.rec.Phase == PhaseReissue {
			if e := rs.rec.OverlapEnds(); t.IsZero() || e.Before(t) {
				t = e
			}
		}
	}
	return t
}

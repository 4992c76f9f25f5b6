package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// Rotation reasons recorded in CARotation.Reason.
const (
	RotationByOperator = "operator"
	RotationByAge      = "age"
)

// driveRotations moves every local CA rotation on as far as it may go
// now, and starts one for a CA past its issuer's rotate_at. It runs at
// the start of each pass, under the state dir lock, so the roots the
// pass then reads are the ones of the phase reached.
func (a *Agent) driveRotations(ctx context.Context, now time.Time) {
	names := make([]string, 0, len(a.issuers))
	for n := range a.issuers {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rot, ok := a.issuers[name].(CARotator)
		if !ok {
			continue
		}
		rec, err := a.driveRotation(ctx, name, rot, now)
		if a.rotations == nil {
			a.rotations = map[string]*rotationState{}
		}
		rs := &rotationState{rec: rec}
		prev := a.rotations[name]
		if rec != nil || prev != nil && prev.rec != nil {
			a.refreshCRLs(name) // each leaf's CRL follows its CA, and the other CA's CRL comes and goes
		}
		if prevPhase(prev) != prevPhase(rs) {
			a.reinspectIssuer(name) // another process (ca rotate, renew) moved it on
		}
		if err != nil {
			rs.err = err.Error()
			a.log.Error("ca rotation cannot go on; retrying at the next pass", "event", "ca_rotation_failed", "issuer", name, "error", err)
		}
		a.rotations[name] = rs
	}
}

// prevPhase is the phase in rs, "" for none.
func prevPhase(rs *rotationState) string {
	if rs == nil || rs.rec == nil {
		return ""
	}
	return rs.rec.Phase
}

// rotationState is what the daemon last saw of an issuer's rotation.
type rotationState struct {
	rec *CARotation
	err string
}

// driveRotation runs one issuer's rotation through every phase whose
// exit condition holds, and returns the record it ends in (nil: none).
func (a *Agent) driveRotation(ctx context.Context, issuer string, rot CARotator, now time.Time) (*CARotation, error) {
	rec, err := rot.Rotation(ctx)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		if rec, err = a.autoRotate(ctx, issuer, rot, now); rec == nil || err != nil {
			return nil, err
		}
	}
	for rec != nil {
		phase := rec.Phase
		done, err := a.rotationPhaseDone(ctx, issuer, rec, now)
		if err != nil || !done {
			return rec, err
		}
		if err := rot.AdvanceRotation(ctx, phase, now); err != nil {
			return rec, err
		}
		a.log.Info("ca rotation phase done", "event", "ca_rotation", "issuer", issuer, "phase", phase)
		a.reinspectIssuer(issuer) // roots and re-issue times change with the phase
		if rec, err = rot.Rotation(ctx); err != nil {
			return nil, err
		}
	}
	a.log.Info("ca rotation complete", "event", "ca_rotation", "issuer", issuer, "phase", "done")
	return nil, nil
}

// autoRotate starts a rotation once the CA certificate has lived
// rotate_at of its life.
func (a *Agent) autoRotate(ctx context.Context, issuer string, rot CARotator, now time.Time) (*CARotation, error) {
	ic := a.cfg.Issuers[issuer]
	cert, err := rot.CACert(ctx)
	if err != nil || cert == nil || ic == nil || ic.RotateAt.Value <= 0 {
		return nil, err
	}
	life := cert.NotAfter.Sub(cert.NotBefore)
	if now.Before(cert.NotBefore.Add(time.Duration(float64(life) * ic.RotateAt.Value))) {
		return nil, nil
	}
	return a.startRotation(ctx, issuer, rot, RotationByAge)
}

// startRotation starts a rotation of issuer's CA with its configured
// overlap and key policy.
func (a *Agent) startRotation(ctx context.Context, issuer string, rot CARotator, reason string) (*CARotation, error) {
	ic := a.cfg.Issuers[issuer]
	req := RotationStart{Reason: reason, Overlap: a.rotationOverlap(issuer)}
	if ic != nil {
		req.KeepOldKey = ic.CAKeyAfterRotation == config.CAKeyKeep
	}
	rec, err := rot.StartRotation(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("start ca rotation: %w", err)
	}
	a.log.Info("ca rotation started", "event", "ca_rotation", "issuer", issuer, "phase", rec.Phase,
		"reason", rec.Reason, "old_ca_serial", rec.OldSerial, "new_ca_serial", rec.NewSerial)
	a.reinspectIssuer(issuer)
	return rec, nil
}

// rotationOverlap is the issuer's overlap, or by default the longest
// leaf validity among its certs (once that has passed, every leaf from
// before the new root was published has expired anyway).
func (a *Agent) rotationOverlap(issuer string) time.Duration {
	if ic := a.cfg.Issuers[issuer]; ic != nil && ic.Overlap.Set {
		return ic.Overlap.Duration
	}
	longest := time.Duration(0)
	for _, st := range a.certs {
		if st.cfg.Issuer == issuer {
			v := st.cfg.Validity.Duration
			if v <= 0 {
				v = 90 * 24 * time.Hour // the local CA's default leaf validity
			}
			longest = max(longest, v)
		}
	}
	if longest == 0 {
		longest = 90 * 24 * time.Hour
	}
	return longest
}

// rotationPhaseDone says whether rec's phase may be left now, doing
// the phase's own work first (writing the bundles).
func (a *Agent) rotationPhaseDone(ctx context.Context, issuer string, rec *CARotation, now time.Time) (bool, error) {
	switch rec.Phase {
	case PhasePublish, PhaseRetire:
		roots, err := a.issuers[issuer].Roots(ctx)
		if err != nil {
			return false, err
		}
		return a.publishBundles(issuer, roots)
	case PhaseReissue:
		return a.oldLeavesLeft(issuer, rec) == 0 && !now.Before(rec.OverlapEnds()), nil
	}
	return true, nil // swap and cleanup are the issuer's own work
}

// publishBundles makes every ca_file of issuer's certs hold exactly
// roots, each in a journaled commit of its own (store name "ca+NAME")
// followed by the cert's unit actions, as a renewal would. It reports
// whether all of them do now.
func (a *Agent) publishBundles(issuer string, roots []*x509.Certificate) (bool, error) {
	var errs []error
	for _, st := range a.sortedCerts() {
		c := st.cfg
		if c.Issuer != issuer || c.CAFile == "" {
			continue
		}
		have, err := readCerts(c.CAFile)
		if errors.Is(err, fs.ErrNotExist) {
			continue // written with both roots at its first issuance
		}
		if err == nil && sameCertOrder(have, roots) {
			continue
		}
		f := store.File{Path: c.CAFile, Data: pki.EncodeCertsPEM(roots...), Mode: c.CertMode.FileMode, UID: c.UID, GID: c.GID,
			DirMode: c.DirMode.FileMode, FollowSymlinks: c.FollowSymlinks}
		if _, err := a.store.Commit(caStoreName(st.name), []store.File{f}, caIntents(c)); err != nil {
			errs = append(errs, fmt.Errorf("ca_file %s of %s: %w", c.CAFile, st.name, err))
			continue
		}
		a.log.Info("ca_file updated for the ca rotation", "event", "ca_file_updated", "cert", st.name, "issuer", issuer,
			"file", c.CAFile, "roots", len(roots))
	}
	return len(errs) == 0, errors.Join(errs...)
}

// sameCertOrder: the same certificates in the same order (the signing
// root first, so tools that read only the first one get it).
func sameCertOrder(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i].Raw, b[i].Raw) {
			return false
		}
	}
	return true
}

// caStoreName is the store's name for a ca_file's own commits during a
// rotation: '+' cannot appear in a cert name.
func caStoreName(cert string) string { return "ca+" + cert }

// caIntents are the unit actions after a ca_file changed: the cert's
// own action, named "ca:NAME" so that a failing unit rolls no pair back.
func caIntents(c *config.Cert) []store.Intent {
	var out []store.Intent
	for _, u := range c.Units {
		out = append(out, store.Intent{Unit: u, Action: c.Action, Cert: "ca:" + c.Name})
	}
	return out
}

// oldLeavesLeft counts issuer's certs whose cert_file still holds a
// leaf from the old CA (read from disk now, not from the last
// inspection).
func (a *Agent) oldLeavesLeft(issuer string, rec *CARotation) int {
	n := 0
	for _, st := range a.certs {
		if st.cfg.Issuer != issuer {
			continue
		}
		certs, err := readCerts(st.cfg.CertFile)
		if err == nil && len(certs) > 0 && fromCA(certs[0], rec.Old) {
			n++
		}
	}
	return n
}

// fromCA reports whether ca signed leaf.
func fromCA(leaf, ca *x509.Certificate) bool {
	return ca != nil && leaf.CheckSignatureFrom(ca) == nil
}

// leafFromCA is fromCA for the cert on disk (read again: the state keeps
// a summary); false when it changed since it was inspected.
func leafFromCA(st *certState, ca *x509.Certificate) bool {
	if ca == nil {
		return false
	}
	leaf, _, err := rereadLeaf(st)
	return err == nil && fromCA(leaf, ca)
}

// refreshCRLs makes the pass fetch the CRL of issuer's certs again.
func (a *Agent) refreshCRLs(issuer string) {
	for _, st := range a.certs {
		if st.cfg.Issuer == issuer && st.crl != nil {
			st.crl.next = time.Time{}
		}
	}
}

// reinspectIssuer makes the pass read the files of issuer's certs again.
func (a *Agent) reinspectIssuer(issuer string) {
	for _, st := range a.certs {
		if st.cfg.Issuer == issuer {
			st.inspected = time.Time{}
		}
	}
}

// rotationRenewAt brings the renewal of a leaf from the old CA forward
// during the re-issue phase, to a time spread over the first half of the
// overlap by a hash of the cert's name: deterministic (a restart does
// not move it) and not all units at once.
func (a *Agent) rotationRenewAt(st *certState) {
	rs := a.rotations[st.cfg.Issuer]
	if rs == nil || rs.rec == nil || rs.rec.Phase != PhaseReissue || st.leaf == nil || !leafFromCA(st, rs.rec.Old) {
		return
	}
	at := rotationSlot(st.name, rs.rec.ReissueFrom, rs.rec.Overlap.Duration()/2)
	if at.Before(st.renewAt) {
		st.renewAt, st.reason = at, "ca rotation: re-issue from the new ca"
	}
}

// rotationSlot is from plus the share of span given by a hash of name.
func rotationSlot(name string, from time.Time, span time.Duration) time.Time {
	h := fnv.New64a()
	h.Write([]byte(name))
	return from.Add(time.Duration(float64(span) * float64(h.Sum64()%10000) / 10000))
}

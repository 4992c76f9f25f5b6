package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// RecoverReport says what Recover did, for logging.
type RecoverReport struct {
	// RolledForward lists the certs whose committed sets were completed.
	RolledForward []string
	// Discarded lists the certs whose unfinished (pre-commit) writes
	// were thrown away; their old files were never touched.
	Discarded []string
	// TempsRemoved lists the temp files deleted, in output and state dirs.
	TempsRemoved []string
	// StagingRemoved lists the staging directories deleted.
	StagingRemoved []string
	// Quarantined lists unreadable journal records renamed to *.corrupt.
	Quarantined []string
	// Refused lists the journal records outside the Allowed set, moved
	// to journal/refused/ without being acted on.
	Refused []string
	// Reinspect names the configured certs that a refused record named,
	// as its cert or by one of their outputs: their files were left as
	// they are and must be looked at again (and re-issued if the pair no
	// longer matches) by the normal pass.
	Reinspect []string
}

// Empty reports whether Recover found nothing to do.
func (r RecoverReport) Empty() bool {
	return len(r.RolledForward)+len(r.Discarded)+len(r.TempsRemoved)+len(r.StagingRemoved)+
		len(r.Quarantined)+len(r.Refused) == 0
}

// Recover must run with the lock held and before any Commit of this
// process. It rolls every committed journal record forward, discards every
// uncommitted one (deleting the temp files it lists), deletes all staging
// leftovers and the state directory's own stray temp files. A record
// that cannot be completed now (e.g. its output directory is read-only)
// is kept for the next Recover or Commit of that cert, and its error
// is returned joined with the others; the rest is still recovered.
//
// Only records within allow are acted on; any other is moved to
// journal/refused/, logged and reported (see Allowed). allow also governs
// the recovery each later Commit does first, until SetAllowed or
// SetAllowedBy changes it.
func (s *Store) Recover(allow Allowed) (RecoverReport, error) {
	if allow == nil {
		allow = Allowed{} // nothing configured: nothing is replayed
	}
	s.SetAllowed(allow)
	var rep RecoverReport
	var errs []error
	jdir := s.journalPath()
	entries, err := os.ReadDir(jdir)
	if err != nil {
		return rep, fmt.Errorf("recover: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case isTempName(name):
			if err := os.Remove(filepath.Join(jdir, name)); err == nil {
				rep.TempsRemoved = append(rep.TempsRemoved, filepath.Join(jdir, name))
			}
		case isBatchName(name):
			if err := s.recoverBatch(name, &rep); err != nil {
				errs = append(errs, fmt.Errorf("recover %s: %w", name, err))
			}
		case strings.HasPrefix(name, "commit-") && strings.HasSuffix(name, ".json"):
			cert := strings.TrimSuffix(strings.TrimPrefix(name, "commit-"), ".json")
			if err := s.recoverCert(cert, &rep); err != nil {
				errs = append(errs, fmt.Errorf("recover cert %q: %w", cert, err))
			}
		}
	}
	s.sweepTemps(&rep)
	staging := filepath.Join(s.dir, stagingDir)
	if ents, err := os.ReadDir(staging); err == nil {
		for _, e := range ents {
			p := filepath.Join(staging, e.Name())
			if err := os.RemoveAll(p); err != nil {
				errs = append(errs, fmt.Errorf("delete staging leftover: %w", err))
				continue
			}
			rep.StagingRemoved = append(rep.StagingRemoved, p)
		}
	}
	if !rep.Empty() {
		s.logger.Info("recovered state directory", "rolled_forward", rep.RolledForward,
			"discarded", rep.Discarded, "temps_removed", len(rep.TempsRemoved),
			"staging_removed", len(rep.StagingRemoved), "quarantined", rep.Quarantined, "refused", rep.Refused)
	}
	return rep, errors.Join(errs...)
}

// SetAllowed replaces what journal recovery accepts (see Allowed), for a
// reloaded configuration. Before the first Recover or SetAllowed, the
// recovery a Commit does first accepts the records this process wrote.
func (s *Store) SetAllowed(allow Allowed) {
	if allow == nil {
		s.SetAllowedBy(nil)
		return
	}
	s.SetAllowedBy(func() Allowed { return allow })
}

// SetAllowedBy is SetAllowed with the set made by f each time a journal
// record must be judged, rather than kept: after Recover, that is only
// for a record a Commit finds left over, which is rare, while the set
// costs memory for every configured cert. f must return the same set
// until the next SetAllowed or SetAllowedBy (a function of a config that
// does not change), and be safe to call from any goroutine; a nil set
// from it allows nothing.
func (s *Store) SetAllowedBy(f func() Allowed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allow = f
}

// allowed is what journal recovery accepts now; nil: all (see SetAllowed).
func (s *Store) allowed() Allowed {
	s.mu.Lock()
	f := s.allow
	s.mu.Unlock()
	if f == nil {
		return nil
	}
	if allow := f(); allow != nil {
		return allow
	}
	return Allowed{}
}

// recoverCert completes or discards the journal record of one cert.
// The caller holds no cert lock; recoverCert takes it.
func (s *Store) recoverCert(cert string, rep *RecoverReport) error {
	unlock := s.lockCert(cert)
	defer unlock()
	return s.recoverLocked(cert, rep)
}

func (s *Store) recoverLocked(cert string, rep *RecoverReport) error {
	name := journalName(cert)
	r, err := s.readRecord(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return s.quarantine(name, cert, err, rep)
	}
	if r.Cert != cert {
		return fmt.Errorf("journal %s names cert %q", name, r.Cert)
	}
	if allow := s.allowed(); allow != nil {
		if reason, detail := allow.refusal(r); reason != "" {
			return s.refuse(name, r, allow, reason, detail, rep)
		}
	}
	if r.State == stateCommit {
		if err := s.finish(r); err != nil {
			return err
		}
		s.logger.Warn("completed a write interrupted after its commit point", "cert", cert)
		rep.RolledForward = append(rep.RolledForward, cert)
		return nil
	}
	removed, err := s.discard(r)
	rep.TempsRemoved = append(rep.TempsRemoved, removed...)
	if err != nil {
		return err
	}
	s.logger.Warn("discarded a write interrupted before its commit point; old files kept", "cert", cert)
	rep.Discarded = append(rep.Discarded, cert)
	return nil
}

// quarantine moves an unreadable journal record aside: nothing safe can
// be done with its temps, and it must not block every later Commit.
func (s *Store) quarantine(name, cert string, cause error, rep *RecoverReport) error {
	p := filepath.Join(s.journalPath(), name)
	q := p + ".corrupt"
	if rerr := os.Rename(p, q); rerr != nil {
		return errors.Join(cause, rerr)
	}
	s.logger.Error("quarantined unreadable journal record", "cert", cert, "path", q, "error", cause)
	rep.Quarantined = append(rep.Quarantined, q)
	return nil
}

// refuse moves a record outside the Allowed set aside, untouched and
// unreplayed, and names the certs whose files must be inspected again.
func (s *Store) refuse(name string, r *record, allow Allowed, reason, detail string, rep *RecoverReport) error {
	q, err := s.moveAside(name)
	if err != nil {
		return fmt.Errorf("refused journal record %s (%s): %w", name, detail, err)
	}
	s.reportRefused(r, allow, reason, detail, q, rep)
	return nil
}

// reportRefused logs a refused record (now at q) and names the certs
// whose files must be inspected again.
func (s *Store) reportRefused(r *record, allow Allowed, reason, detail, q string, rep *RecoverReport) {
	s.logger.Error("refused a journal record that the configuration does not allow; its files were left as they are",
		"event", "journal_record_refused", "cert", r.Cert, "state", r.State, "reason", reason,
		"detail", detail, "path", q)
	rep.Refused = append(rep.Refused, q)
	for _, c := range allow.named(r) {
		if !slices.Contains(rep.Reinspect, c) {
			rep.Reinspect = append(rep.Reinspect, c)
		}
	}
}

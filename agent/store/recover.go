package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

// Empty reports whether Recover found nothing to do.
func (r RecoverReport) Empty() bool {
	return len(r.RolledForward)+len(r.Discarded)+len(r.TempsRemoved)+len(r.StagingRemoved)+len(r.Quarantined) == 0
}

// Recover must run with the lock held and before any Commit of this
// process. It rolls every committed journal record forward, discards every
// uncommitted one (deleting the temp files it lists), deletes all staging
// leftovers and the state directory's own stray temp files. A record
// that cannot be completed now (e.g. its output directory is read-only)
// is kept for the next Recover or Commit of that cert, and its error
// is returned joined with the others; the rest is still recovered.
func (s *Store) Recover() (RecoverReport, error) {
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
			"staging_removed", len(rep.StagingRemoved), "quarantined", rep.Quarantined)
	}
	return rep, errors.Join(errs...)
}

// recoverCert completes or discards the journal record of one cert.
// The caller holds no cert lock; recoverCert takes it.
func (s *Store) recoverCert(cert string, rep *RecoverReport) error {
	m := s.certLock(cert)
	m.Lock()
	defer m.Unlock()
	return s.recoverLocked(cert, rep)
}

func (s *Store) recoverLocked(cert string, rep *RecoverReport) error {
	name := journalName(cert)
	r, err := s.readRecord(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		// Unreadable: nothing safe can be done with its temps. Move it
		// aside so it does not block every later Commit of this cert.
		p := filepath.Join(s.journalPath(), name)
		q := p + ".corrupt"
		if rerr := os.Rename(p, q); rerr != nil {
			return errors.Join(err, rerr)
		}
		s.logger.Error("quarantined unreadable journal record", "cert", cert, "path", q, "error", err)
		rep.Quarantined = append(rep.Quarantined, q)
		return nil
	}
	if r.Cert != cert {
		return fmt.Errorf("journal %s names cert %q", name, r.Cert)
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

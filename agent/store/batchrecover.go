package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// readBatch parses and checks a batch record.
func (s *Store) readBatch(name string) ([]*record, error) {
	b, err := os.ReadFile(filepath.Join(s.journalPath(), name))
	if err != nil {
		return nil, err
	}
	var doc batchDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("journal %s: %w", name, err)
	}
	if doc.Version != journalVersion {
		return nil, fmt.Errorf("journal %s: unsupported version %d", name, doc.Version)
	}
	seen := map[string]bool{}
	out := make([]*record, 0, len(doc.Records))
	for i := range doc.Records {
		r := &doc.Records[i]
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("journal %s: %w", name, err)
		}
		if r.State != doc.Records[0].State || seen[r.Cert] {
			return nil, fmt.Errorf("journal %s: mixed states or cert %q twice", name, r.Cert)
		}
		seen[r.Cert] = true
		out = append(out, r)
	}
	return out, nil
}

// recoverBatch completes or discards every set of a batch record, each
// under its cert's lock and judged by Allowed on its own. A set that
// cannot be completed now is written back as its own per-cert record.
func (s *Store) recoverBatch(name string, rep *RecoverReport) error {
	recs, err := s.readBatch(name)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return s.quarantine(name, "", err, rep)
	}
	var kept []*record
	var intents []Intent
	var errs []error
	allow := s.allowed()
	for _, r := range recs {
		unlock := s.lockCert(r.Cert)
		err := s.recoverEntry(r, allow, rep, &intents)
		unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("cert %q: %w", r.Cert, err))
			kept = append(kept, r)
		}
	}
	// Until the intents are recorded, the whole batch stays: finishing
	// it again is a no-op for the files.
	if err := s.AddIntents(intents); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, r := range kept {
		if err := s.writeRecord(r); err != nil {
			return errors.Join(append(errs, err)...)
		}
	}
	if err := s.removeJournalFile(name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// recoverEntry is recoverLocked for one set of a batch record, without
// the record's removal; the intents of a set rolled forward are added to
// intents for the caller to record.
func (s *Store) recoverEntry(r *record, allow Allowed, rep *RecoverReport, intents *[]Intent) error {
	if allow != nil {
		if reason, detail := allow.refusal(r); reason != "" {
			q, err := s.writeAside(r)
			if err != nil {
				return fmt.Errorf("refused journal record of cert %q (%s): %w", r.Cert, detail, err)
			}
			s.reportRefused(r, allow, reason, detail, q, rep)
			return nil
		}
	}
	if r.State == stateCommit {
		if err := s.finishFiles(r); err != nil {
			return err
		}
		*intents = append(*intents, r.Intents...)
		s.logger.Warn("completed a write interrupted after its commit point", "cert", r.Cert)
		rep.RolledForward = append(rep.RolledForward, r.Cert)
		return nil
	}
	removed, err := s.discardFiles(r)
	rep.TempsRemoved = append(rep.TempsRemoved, removed...)
	if err != nil {
		return err
	}
	s.logger.Warn("discarded a write interrupted before its commit point; old files kept", "cert", r.Cert)
	rep.Discarded = append(rep.Discarded, r.Cert)
	return nil
}

// writeAside writes one refused set of a batch to
// journal/refused/commit-<cert>.json (never over an earlier one), as
// moveAside does for a per-cert record.
func (s *Store) writeAside(r *record) (string, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	rdir := filepath.Join(s.journalPath(), refusedDir)
	if err := os.Mkdir(rdir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("move refused journal record aside: %w", err)
	}
	base := journalName(r.Cert)
	for i := 0; i < 1000; i++ {
		p := filepath.Join(rdir, base)
		if i > 0 {
			p = fmt.Sprintf("%s.%d", p, i)
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if os.IsExist(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		_, err = f.Write(b)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", err
		}
		d, err := openDir(rdir, false, 0)
		if err != nil {
			return "", err
		}
		defer d.close()
		return p, s.syncDir(d)
	}
	return "", fmt.Errorf("move refused journal record aside: %s holds too many records named %s", rdir, base)
}

// markStuck records that the batch record name still holds cert's
// committed set after CommitBatch returned: the next write of cert must
// complete it first (completeStuck), as the next Commit does with a
// per-cert record. Otherwise recovery at the next start would roll that
// older set's leftover temps forward over the newer files.
func (s *Store) markStuck(cert, name string) {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	s.stuck[cert] = name
}

// completeStuck completes cert's set in a batch record that a failed
// group commit left behind (see markStuck) and takes it out of that
// record. The caller holds cert's lock.
func (s *Store) completeStuck(cert string, rep *RecoverReport) error {
	s.bmu.Lock()
	defer s.bmu.Unlock()
	name, ok := s.stuck[cert]
	if !ok {
		return nil
	}
	recs, err := s.readBatch(name)
	if errors.Is(err, os.ErrNotExist) {
		delete(s.stuck, cert)
		return nil
	}
	if err != nil {
		return err
	}
	var rest []*record
	var intents []Intent
	for _, r := range recs {
		if r.Cert != cert {
			rest = append(rest, r)
			continue
		}
		if err := s.recoverEntry(r, s.allowed(), rep, &intents); err != nil {
			return err
		}
	}
	if err := s.AddIntents(intents); err != nil {
		return err
	}
	if err := s.rewriteBatch(name, rest); err != nil {
		return err
	}
	delete(s.stuck, cert)
	return nil
}

// rewriteBatch replaces the batch record name by recs (or removes it if
// there are none).
func (s *Store) rewriteBatch(name string, recs []*record) error {
	if len(recs) == 0 {
		return s.removeJournalFile(name)
	}
	doc := batchDoc{Version: journalVersion}
	for _, r := range recs {
		doc.Records = append(doc.Records, *r)
	}
	return s.writeBatchDoc(name, doc)
}

package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Journal record states. A record is "prepare" while temp files are being
// created (recovery deletes them) and "commit" once the set must be rolled
// forward. The atomic replacement of prepare by commit is the commit point.
const (
	statePrepare = "prepare"
	stateCommit  = "commit"

	journalVersion = 1
	intentsFile    = "intents.json"
)

// record is journal/commit-<cert>.json.
type record struct {
	Version int      `json:"version"`
	Cert    string   `json:"cert"`
	State   string   `json:"state"`
	Renames []rename `json:"renames"` // in rename order: key first
	Intents []Intent `json:"intents,omitempty"`
}

// rename moves Dir/Temp to Dir/Target. Dir is the symlink-free directory
// the writer walked to; Temp and Target are names in it.
type rename struct {
	Dir    string `json:"dir"`
	Temp   string `json:"temp"`
	Target string `json:"target"`
}

func journalName(cert string) string { return "commit-" + cert + ".json" }

func (s *Store) journalPath() string { return filepath.Join(s.dir, journalDir) }

func (s *Store) writeRecord(r *record) error {
	r.Version = journalVersion
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeAtomic(s.journalPath(), journalName(r.Cert), b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

func (s *Store) readRecord(name string) (*record, error) {
	b, err := os.ReadFile(filepath.Join(s.journalPath(), name))
	if err != nil {
		return nil, err
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("journal %s: %w", name, err)
	}
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("journal %s: %w", name, err)
	}
	return &r, nil
}

// validate refuses records that could make recovery touch anything but
// our own temp files, even if the journal was tampered with or corrupted.
func (r *record) validate() error {
	if r.Version != journalVersion {
		return fmt.Errorf("unsupported version %d", r.Version)
	}
	if r.State != statePrepare && r.State != stateCommit {
		return fmt.Errorf("unknown state %q", r.State)
	}
	if err := checkCertName(r.Cert); err != nil {
		return err
	}
	for _, rn := range r.Renames {
		if !filepath.IsAbs(rn.Dir) || !isTempName(rn.Temp) || rn.Target == "" ||
			strings.ContainsAny(rn.Target, "/\x00") || rn.Target == "." || rn.Target == ".." {
			return fmt.Errorf("bad rename entry %+v", rn)
		}
	}
	return nil
}

func (s *Store) removeRecord(cert string) error { return s.removeJournalFile(journalName(cert)) }

// removeJournalFile deletes journal/name (gone already is fine) and
// fsyncs journal/.
func (s *Store) removeJournalFile(name string) error {
	p := filepath.Join(s.journalPath(), name)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	d, err := openDir(s.journalPath(), false, 0)
	if err != nil {
		return err
	}
	defer d.close()
	return s.syncDir(d)
}

// finish completes a committed record: renames every temp that still
// exists (a missing temp was already renamed), fsyncs the directories,
// records the intents and removes the record. It is idempotent.
func (s *Store) finish(r *record) error {
	if err := s.finishFiles(r); err != nil {
		return err
	}
	if err := s.AddIntents(r.Intents); err != nil {
		return err
	}
	return s.removeRecord(r.Cert)
}

// finishFiles is finish without the intents and the record: the renames
// and the directory fsyncs. Idempotent.
func (s *Store) finishFiles(r *record) error {
	for _, rn := range r.Renames {
		d, err := openDir(rn.Dir, false, 0)
		if err != nil {
			return fmt.Errorf("roll forward: %w", err)
		}
		err = s.ops.renameat(d.fd, rn.Temp, d.fd, rn.Target)
		if err != nil && err != unix.ENOENT {
			d.close()
			return fmt.Errorf("roll forward: %w", pathErr("rename", d.join(rn.Target), err))
		}
		err = s.syncDir(d)
		d.close()
		if err != nil {
			return fmt.Errorf("roll forward: %w", err)
		}
	}
	return nil
}

// absent reports whether name does not exist in the directory dirfd.
// unlink on a read-only file system fails with EROFS even for a name that
// does not exist, which is no reason to keep a record of it.
func absent(dirfd int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == unix.ENOENT
}

// discard deletes the temp files of a record that never reached the
// commit point, then the record.
func (s *Store) discard(r *record) ([]string, error) {
	removed, err := s.discardFiles(r)
	if err != nil {
		// Keep the record: it is the only list of these temps.
		return removed, err
	}
	return removed, s.removeRecord(r.Cert)
}

// discardFiles is discard without the record: it deletes r's temps.
func (s *Store) discardFiles(r *record) ([]string, error) {
	var removed []string
	var errs []error
	for _, rn := range r.Renames {
		d, err := openDir(rn.Dir, false, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // nothing can be in a directory that is gone
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = unix.Unlinkat(d.fd, rn.Temp, 0)
		switch {
		case err == nil:
			removed = append(removed, d.join(rn.Temp))
			if err := s.syncDir(d); err != nil {
				errs = append(errs, err)
			}
		case err != unix.ENOENT && !absent(d.fd, rn.Temp):
			errs = append(errs, pathErr("remove", d.join(rn.Temp), err))
		}
		d.close()
	}
	return removed, errors.Join(errs...)
}

// PendingIntents returns the unit actions recorded by Commit or Recover
// and not yet marked done, in the order they were recorded.
func (s *Store) PendingIntents() ([]Intent, error) {
	s.imu.Lock()
	defer s.imu.Unlock()
	return s.readIntents()
}

// DoneIntent durably removes in from the pending set. Removing an intent
// that is not pending is not an error.
func (s *Store) DoneIntent(in Intent) error {
	s.imu.Lock()
	defer s.imu.Unlock()
	cur, err := s.readIntents()
	if err != nil {
		return err
	}
	i := slices.Index(cur, in)
	if i < 0 {
		return nil
	}
	return s.writeIntents(slices.Delete(cur, i, i+1))
}

// AddIntents durably adds unit actions and hook runs to the pending set
// (those already pending are not repeated), for work that has no files
// to commit: a watch-only pair that another tool replaced. Commit records
// a managed cert's intents itself.
func (s *Store) AddIntents(add []Intent) error {
	if len(add) == 0 {
		return nil
	}
	s.imu.Lock()
	defer s.imu.Unlock()
	cur, err := s.readIntents()
	if err != nil {
		return err
	}
	n := len(cur)
	for _, in := range add {
		if !slices.Contains(cur, in) {
			cur = append(cur, in)
		}
	}
	if len(cur) == n {
		return nil
	}
	return s.writeIntents(cur)
}

type intentsDoc struct {
	Version int      `json:"version"`
	Intents []Intent `json:"intents"`
}

func (s *Store) readIntents() ([]Intent, error) {
	p := filepath.Join(s.journalPath(), intentsFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pending actions: %w", err)
	}
	var doc intentsDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read pending actions %s: %w", p, err)
	}
	return doc.Intents, nil
}

func (s *Store) writeIntents(list []Intent) error {
	b, err := json.MarshalIndent(intentsDoc{Version: journalVersion, Intents: list}, "", "  ")
	if err != nil {
		return err
	}
	if err := s.writeAtomic(s.journalPath(), intentsFile, b); err != nil {
		return fmt.Errorf("record pending actions: %w", err)
	}
	return nil
}

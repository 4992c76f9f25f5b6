package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
)

// The previous set of a cert is one file, previous/<cert>/set.json (0600),
// so that replacing it is a single atomic rename: a crash can never leave
// a previous key from one generation next to a cert from another.
const previousFile = "set.json"

type previousDoc struct {
	Version int             `json:"version"`
	Cert    string          `json:"cert"`
	Files   []previousEntry `json:"files"`
}

type previousEntry struct {
	Path           string `json:"path"`
	Mode           string `json:"mode"` // octal, e.g. "0600"
	UID            int    `json:"uid"`
	GID            int    `json:"gid"`
	FollowSymlinks bool   `json:"follow_symlinks,omitempty"`
	Data           []byte `json:"data"` // base64 in JSON
}

// savePrevious keeps the current content of the changed targets. It keeps
// a set only if every changed target existed as a regular file: half an
// old pair (say the cert was deleted and the key kept) is no rollback
// target, so then any older previous set is removed instead.
func (s *Store) savePrevious(cert string, files []File, olds []existing) error {
	doc := previousDoc{Version: journalVersion, Cert: cert}
	complete := len(files) > 0
	for i, f := range files {
		ex := olds[i]
		if !ex.regular || ex.data == nil {
			complete = false
			break
		}
		doc.Files = append(doc.Files, previousEntry{
			Path: f.Path, Mode: fmt.Sprintf("%04o", ex.st.Mode&0o777),
			UID: int(ex.st.Uid), GID: int(ex.st.Gid),
			FollowSymlinks: f.FollowSymlinks, Data: ex.data,
		})
	}
	dir := filepath.Join(s.dir, previousDir, cert)
	if !complete {
		if err := os.Remove(filepath.Join(dir, previousFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale previous set: %w", err)
		}
		return nil
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("save previous set: %w", err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := s.writeAtomic(dir, previousFile, b); err != nil {
		return fmt.Errorf("save previous set: %w", err)
	}
	return nil
}

// Previous returns the files the last Commit of cert replaced, as they
// were before it (path, data, mode, owner), for rollback. Only the files
// that Commit changed are included; the others are the same in both
// sets. The error wraps fs.ErrNotExist if there is no previous set.
func (s *Store) Previous(cert string) ([]File, error) {
	if err := checkCertName(cert); err != nil {
		return nil, err
	}
	p := filepath.Join(s.dir, previousDir, cert, previousFile)
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("previous set of cert %q: %w", cert, err)
	}
	var doc previousDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("previous set %s: %w", p, err)
	}
	out := make([]File, 0, len(doc.Files))
	for _, e := range doc.Files {
		mode, err := strconv.ParseUint(e.Mode, 8, 32)
		if err != nil {
			return nil, fmt.Errorf("previous set %s: mode %q: %w", p, e.Mode, err)
		}
		out = append(out, File{Path: e.Path, Data: e.Data, Mode: os.FileMode(mode).Perm(),
			UID: e.UID, GID: e.GID, FollowSymlinks: e.FollowSymlinks})
	}
	return out, nil
}

// Restore puts the previous set of cert back in place with the same
// crash-safety as Commit (it is a Commit that does not overwrite the
// previous set, so restoring twice is a no-op) and records intents.
func (s *Store) Restore(cert string, intents []Intent) (Result, error) {
	files, err := s.Previous(cert)
	if err != nil {
		return Result{}, err
	}
	return s.commit(cert, files, intents, false)
}

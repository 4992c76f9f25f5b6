package store

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/internal/safefile"
)

// ErrIncomplete marks a Commit that failed after its commit point: the
// journal says roll forward, and the next Commit of the same cert or
// Recover completes the set (and records its intents). Until then the
// files of the set may be mixed, so callers must treat the cert as failed
// and must not act on its units.
var ErrIncomplete = errors.New("write interrupted after its commit point; recovery will complete it")

// Commit replaces cert's set of files as one unit and records intents as
// pending if any file's bytes changed. files are renamed in the given
// order (pass the key first, then the cert). A file whose bytes are
// already right is left untouched apart from a mode/owner correction,
// reported in Result.Fixed; if nothing changed, nothing is journaled and
// intents are not recorded.
//
// On an error before the commit point the old files are untouched and no
// temp file is left. An error wrapping ErrIncomplete means the new set is
// committed but not fully in place (see ErrIncomplete).
func (s *Store) Commit(cert string, files []File, intents []Intent) (Result, error) {
	return s.commit(cert, files, intents, true)
}

func (s *Store) commit(cert string, files []File, intents []Intent, savePrev bool) (Result, error) {
	var res Result
	if err := checkCertName(cert); err != nil {
		return res, err
	}
	if err := checkFiles(files); err != nil {
		return res, fmt.Errorf("cert %q: %w", cert, err)
	}
	unlock := s.lockCert(cert)
	defer unlock()
	p, err := s.plan(cert, files, nil)
	defer p.close()
	if err != nil {
		return p.res, err
	}
	res = p.res
	if len(p.files) == 0 {
		return res, nil
	}
	chFiles, chTargets, chOlds := p.files, p.ts, p.olds
	for _, f := range chFiles {
		res.Changed = append(res.Changed, f.Path)
	}
	if err := s.write(cert, chFiles, chTargets, chOlds, intents, savePrev); err != nil {
		if !errors.Is(err, ErrIncomplete) {
			res.Changed = nil
		}
		return res, err
	}
	s.logger.Debug("committed files", "cert", cert, "changed", res.Changed, "fixed", res.Fixed)
	return res, nil
}

// plan is what a write of one cert's set must do: the files whose bytes
// change, with their resolved targets and what is there now.
type plan struct {
	res     Result // Fixed filled in; Changed by the caller
	files   []File
	ts      []*target
	olds    []existing
	targets []*target // every resolved target, to close
}

func (p *plan) close() {
	for _, t := range p.targets {
		t.dir.close()
	}
}

// plan completes an earlier interrupted write of cert, resolves and reads
// every target, corrects the mode and owner of those already right and
// returns the rest. The caller holds the cert's lock and closes the plan.
// w, when not nil, shares the walks of the targets' directories.
func (s *Store) plan(cert string, files []File, w *safefile.Walker) (*plan, error) {
	p := &plan{}
	// A set left half-written by an earlier failed Commit is completed
	// (or discarded) before anything else touches these files.
	var rep RecoverReport
	if err := s.completeStuck(cert, &rep); err != nil {
		return p, fmt.Errorf("cert %q: completing an earlier group commit: %w", cert, err)
	}
	if err := s.recoverLocked(cert, &rep); err != nil {
		return p, fmt.Errorf("cert %q: completing an earlier write: %w", cert, err)
	}
	seen := map[string]string{}
	for _, f := range files {
		t, err := resolveTargetVia(w, f.Path, f.FollowSymlinks, true, f.DirMode)
		if err != nil {
			return p, err
		}
		p.targets = append(p.targets, t)
		if other, dup := seen[t.path()]; dup {
			return p, fmt.Errorf("cert %q: %s and %s are the same file %s", cert, other, f.Path, t.path())
		}
		seen[t.path()] = f.Path
		ex, err := inspect(t, f.Data)
		if err != nil {
			return p, err
		}
		if !ex.same {
			p.files, p.ts, p.olds = append(p.files, f), append(p.ts, t), append(p.olds, ex)
			continue
		}
		fixed, err := fixPerms(t, f)
		if err != nil {
			return p, err
		}
		if fixed {
			p.res.Fixed = append(p.res.Fixed, f.Path)
		}
	}
	return p, nil
}

func checkFiles(files []File) error {
	for _, f := range files {
		if !filepath.IsAbs(f.Path) {
			return fmt.Errorf("output path %q is not absolute", f.Path)
		}
		if f.Mode.Perm() == 0 {
			return fmt.Errorf("output %s: mode 0000 (a zero File.Mode is a caller bug)", f.Path)
		}
	}
	return nil
}

// write runs the journaled protocol for the changed files; see
// docs/storage.md for why each step is where it is.
func (s *Store) write(cert string, files []File, ts []*target, olds []existing, intents []Intent, savePrev bool) error {
	rec := &record{Cert: cert, State: statePrepare}
	for _, t := range ts {
		rec.Renames = append(rec.Renames, rename{Dir: t.dir.path, Temp: tempName(t.base), Target: t.base})
	}
	// 1. prepare: the journal knows every temp before it exists.
	if err := s.writeRecord(rec); err != nil {
		return s.unwind(rec, err)
	}
	// 2. temps with final owner and mode before the first byte.
	for i, f := range files {
		tf, err := s.createTemp(ts[i].dir, rec.Renames[i].Temp, f.UID, f.GID, f.Mode)
		if err != nil {
			return s.unwind(rec, err)
		}
		if err := s.fillTemp(tf, f.Data); err != nil {
			return s.unwind(rec, err)
		}
	}
	failpoint.Hit("store-after-temps")
	// 3. previous set, before anything old is replaced.
	if savePrev {
		if err := s.savePrevious(cert, files, olds); err != nil {
			return s.unwind(rec, err)
		}
	}
	// 4. commit point.
	rec.State, rec.Intents = stateCommit, intents
	if err := s.writeRecord(rec); err != nil {
		return s.unwind(rec, err)
	}
	failpoint.Hit("store-after-journal")
	// 5. renames in order, then one fsync per directory. The commit record
	// stays until every directory is synced, so a rename the kernel had
	// not yet made durable at a crash is redone by recovery: per-rename
	// fsyncs would only cost time (the benchmark counted 9 per commit).
	synced := map[string]bool{}
	for i, rn := range rec.Renames {
		d := ts[i].dir
		if err := s.ops.renameat(d.fd, rn.Temp, d.fd, rn.Target); err != nil {
			err = pathErr("rename", d.join(rn.Target), err)
			if i == 0 {
				return s.unwind(rec, err) // nothing replaced yet
			}
			return s.rollForward(rec, err)
		}
		if i == 0 {
			failpoint.Hit("store-after-first-rename")
		}
	}
	for i := range rec.Renames {
		d := ts[i].dir
		if synced[d.path] {
			continue
		}
		if err := s.syncDir(d); err != nil {
			return s.rollForward(rec, err)
		}
		synced[d.path] = true
	}
	failpoint.Hit("store-after-renames")
	// 6. intents become pending, then the record goes.
	if err := s.AddIntents(intents); err != nil {
		return s.rollForward(rec, err)
	}
	if err := s.removeRecord(cert); err != nil {
		return s.rollForward(rec, fmt.Errorf("remove journal: %w", err))
	}
	return nil
}

// rollForward retries the whole committed record once (finish is
// idempotent); if that fails too, recovery must complete it later.
func (s *Store) rollForward(rec *record, cause error) error {
	if err := s.finish(rec); err != nil {
		s.logger.Error("cannot complete committed write; will retry at next recovery",
			"cert", rec.Cert, "error", cause, "retry_error", err)
		return fmt.Errorf("cert %q: %w: %w", rec.Cert, ErrIncomplete, cause)
	}
	s.logger.Warn("completed committed write after a transient error", "cert", rec.Cert, "error", cause)
	return nil
}

// unwind abandons a write that replaced nothing: the old files stay and
// the temps go. A commit record is first turned back into prepare (or
// removed), because deleting temps under a commit record could let a
// crash roll forward half a set. If neither is possible the temps stay
// and recovery rolls the whole set forward, which is also consistent.
func (s *Store) unwind(rec *record, cause error) error {
	if rec.State == stateCommit {
		prep := &record{Cert: rec.Cert, State: statePrepare, Renames: rec.Renames}
		if err := s.writeRecord(prep); err != nil {
			if rerr := s.removeRecord(rec.Cert); rerr != nil {
				return fmt.Errorf("cert %q: %w: %w", rec.Cert, ErrIncomplete, cause)
			}
		}
		rec = prep
	}
	if _, err := s.discard(rec); err != nil {
		s.logger.Error("cannot delete temp files of a failed write", "cert", rec.Cert, "error", err)
		return fmt.Errorf("%w (cleanup: %v)", cause, err)
	}
	return cause
}

package store

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/internal/safefile"
)

// Set is one cert's files and follow-ups, for CommitBatch.
type Set struct {
	Cert    string
	Files   []File
	Intents []Intent
}

// batchDoc is journal/batch-<16 hex>.json: one record per set of a
// CommitBatch, all in the same state. Replacing the prepare document by
// the commit document is the commit point of every set in it at once.
type batchDoc struct {
	Version int      `json:"version"`
	Records []record `json:"records"`
}

const batchPrefix = "batch-"

func newBatchName() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return batchPrefix + hex.EncodeToString(b[:]) + ".json"
}

func isBatchName(name string) bool {
	return strings.HasPrefix(name, batchPrefix) && strings.HasSuffix(name, ".json")
}

// batchItem is one set of a batch that has files to replace.
type batchItem struct {
	i       int
	cert    string
	p       *plan
	rec     *record
	intents []Intent
	err     error
}

// CommitBatch is Commit for several certs at once (each cert at most
// once), with one journal record for all of them: one prepare and one
// commit write, one fsync of each output directory and one update of the
// pending actions for the whole batch, instead of one each per cert.
// Every set is still entirely old or entirely new after a crash at any
// instant (docs/storage.md). Results and errors are by index of sets; a
// set that fails before the commit point leaves its files untouched and
// does not stop the others.
func (s *Store) CommitBatch(sets []Set) ([]Result, []error) {
	res := make([]Result, len(sets))
	errs := make([]error, len(sets))
	seen := map[string]bool{}
	var locked []string
	for i, set := range sets {
		switch {
		case checkCertName(set.Cert) != nil:
			errs[i] = checkCertName(set.Cert)
		case checkFiles(set.Files) != nil:
			errs[i] = fmt.Errorf("cert %q: %w", set.Cert, checkFiles(set.Files))
		case seen[set.Cert]:
			errs[i] = fmt.Errorf("cert %q is twice in one batch", set.Cert)
		default:
			seen[set.Cert] = true
			locked = append(locked, set.Cert)
		}
	}
	// Locks are taken in name order so that two batches cannot deadlock.
	slices.Sort(locked)
	for _, c := range locked {
		unlock := s.lockCert(c)
		defer unlock()
	}
	var items []*batchItem
	// The sets of a batch mostly share their output directories: each is
	// walked once for the batch (safefile.Walker.Resolve), not once a file.
	walk := safefile.NewWalker()
	defer walk.Close()
	for i, set := range sets {
		if errs[i] != nil {
			continue
		}
		p, err := s.plan(set.Cert, set.Files, walk)
		defer p.close()
		res[i] = p.res
		if err != nil {
			errs[i] = err
			continue
		}
		if len(p.files) == 0 {
			continue
		}
		for _, f := range p.files {
			res[i].Changed = append(res[i].Changed, f.Path)
		}
		items = append(items, &batchItem{i: i, cert: set.Cert, p: p, intents: set.Intents})
	}
	switch len(items) {
	case 0:
	case 1: // the per-cert record costs the same
		it := items[0]
		it.err = s.write(it.cert, it.p.files, it.p.ts, it.p.olds, it.intents, true)
	default:
		s.writeBatch(items)
	}
	for _, it := range items {
		if it.err != nil {
			errs[it.i] = it.err
			if !errors.Is(it.err, ErrIncomplete) {
				res[it.i].Changed = nil
			}
		}
	}
	return res, errs
}

// writeBatch runs the journaled protocol of write for several sets with
// one batch record; see docs/storage.md.
func (s *Store) writeBatch(items []*batchItem) {
	name := newBatchName()
	for _, it := range items {
		it.rec = &record{Cert: it.cert, State: statePrepare}
		for _, t := range it.p.ts {
			it.rec.Renames = append(it.rec.Renames, rename{Dir: t.dir.path, Temp: tempName(t.base), Target: t.base})
		}
	}
	// 1. prepare: the journal knows every temp before it exists.
	if err := s.saveBatch(name, items, statePrepare); err != nil {
		for _, it := range items {
			it.err = err
		}
		s.dropBatch(name) // it may be in place, unsynced; it lists no temp that exists
		return
	}
	// 2. temps, several at a time: their fsyncs are most of the work.
	s.batchTemps(items)
	// 3. previous sets; a set that fails here drops out of the batch.
	var live []*batchItem
	for _, it := range items {
		if it.err == nil {
			if err := s.savePrevious(it.cert, it.p.files, it.p.olds); err != nil {
				it.err = err
				s.dropTemps(it)
			}
		}
		if it.err == nil {
			live = append(live, it)
		}
	}
	if len(live) == 0 {
		s.dropBatch(name)
		return
	}
	// 4. commit point, for every live set at once.
	if err := s.saveBatch(name, live, stateCommit); err != nil {
		s.unwindBatch(name, live, err)
		return
	}
	for range live {
		failpoint.Hit("store-after-journal")
	}
	// 5. renames, then one fsync per directory for the whole batch.
	if err := s.renameBatch(live); err != nil {
		s.rollForwardBatch(name, live, err)
		return
	}
	for range live {
		failpoint.Hit("store-after-renames")
	}
	// 6. intents (one update), then the record goes.
	var intents []Intent
	for _, it := range live {
		intents = append(intents, it.intents...)
	}
	if err := s.AddIntents(intents); err != nil {
		s.rollForwardBatch(name, live, err)
		return
	}
	if err := s.removeJournalFile(name); err != nil {
		s.rollForwardBatch(name, live, fmt.Errorf("remove journal: %w", err))
	}
}

// saveBatch atomically replaces the batch record by one holding items'
// records in state.
func (s *Store) saveBatch(name string, items []*batchItem, state string) error {
	doc := batchDoc{Version: journalVersion}
	for _, it := range items {
		r := *it.rec
		r.Version, r.State, r.Intents = journalVersion, state, nil
		if state == stateCommit {
			r.Intents = it.intents
		}
		doc.Records = append(doc.Records, r)
	}
	return s.writeBatchDoc(name, doc)
}

func (s *Store) writeBatchDoc(name string, doc batchDoc) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if err := s.writeAtomic(s.journalPath(), name, b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	return nil
}

// batchTemps writes every item's temps, with final owner and mode before
// the first byte, fsynced. A failing item's temps are deleted and the
// item marked; the others go on.
func (s *Store) batchTemps(items []*batchItem) {
	workers := min(len(items), 2*runtime.GOMAXPROCS(0))
	next := make(chan *batchItem)
	var wg sync.WaitGroup
	var once sync.Once
	var crashed any
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic belongs to the caller, as if the temps were written
			// on its goroutine; the other workers finish their item first.
			defer func() {
				if p := recover(); p != nil {
					once.Do(func() { crashed = p })
					for range next {
					}
				}
			}()
			for it := range next {
				if err := s.itemTemps(it); err != nil {
					it.err = err
					s.dropTemps(it)
					continue
				}
				failpoint.Hit("store-after-temps")
			}
		}()
	}
	for _, it := range items {
		next <- it
	}
	close(next)
	wg.Wait()
	if crashed != nil {
		panic(crashed)
	}
}

func (s *Store) itemTemps(it *batchItem) error {
	for j, f := range it.p.files {
		tf, err := s.createTemp(it.p.ts[j].dir, it.rec.Renames[j].Temp, f.UID, f.GID, f.Mode)
		if err != nil {
			return err
		}
		if err := s.fillTemp(tf, f.Data); err != nil {
			return err
		}
	}
	return nil
}

// dropTemps deletes the temps of an item that will not be committed; the
// prepare record still lists them, so a crash meanwhile loses nothing.
func (s *Store) dropTemps(it *batchItem) {
	if _, err := s.discardFiles(it.rec); err != nil {
		s.logger.Error("cannot delete temp files of a failed write", "cert", it.cert, "error", err)
	}
}

// dropBatch removes a batch record whose sets all failed before the
// commit point; their temps are already gone. If it cannot be removed,
// the next recovery discards it, which is the same.
func (s *Store) dropBatch(name string) {
	if err := s.removeJournalFile(name); err != nil {
		s.logger.Error("cannot remove journal record of a failed write", "record", name, "error", err)
	}
}

func (s *Store) renameBatch(live []*batchItem) error {
	for _, it := range live {
		for j, rn := range it.rec.Renames {
			d := it.p.ts[j].dir
			if err := s.ops.renameat(d.fd, rn.Temp, d.fd, rn.Target); err != nil {
				return pathErr("rename", d.join(rn.Target), err)
			}
			if j == 0 {
				failpoint.Hit("store-after-first-rename")
			}
		}
	}
	synced := map[string]bool{}
	for _, it := range live {
		for _, t := range it.p.ts {
			if synced[t.dir.path] {
				continue
			}
			if err := s.syncDir(t.dir); err != nil {
				return err
			}
			synced[t.dir.path] = true
		}
	}
	return nil
}

// unwindBatch abandons a batch whose commit record may or may not be on
// disk: as unwind, the record goes back to prepare (or away) before any
// temp is deleted. If neither is possible, every set stays for recovery
// to roll forward, which is consistent too.
func (s *Store) unwindBatch(name string, live []*batchItem, cause error) {
	if err := s.saveBatch(name, live, statePrepare); err != nil {
		if rerr := s.removeJournalFile(name); rerr != nil {
			for _, it := range live {
				it.err = fmt.Errorf("cert %q: %w: %w", it.cert, ErrIncomplete, cause)
				s.markStuck(it.cert, name)
			}
			return
		}
	}
	for _, it := range live {
		it.err = cause
		s.dropTemps(it)
	}
	s.dropBatch(name)
}

// rollForwardBatch completes a committed batch after an error. A set
// that still cannot be completed gets its own per-cert record (so that
// the next Commit of that cert, or recovery, completes it) before the
// batch record goes, and its error wraps ErrIncomplete.
func (s *Store) rollForwardBatch(name string, live []*batchItem, cause error) {
	var stuck []*batchItem
	var intents []Intent
	for _, it := range live {
		if err := s.finishFiles(it.rec); err != nil {
			stuck = append(stuck, it)
			continue
		}
		intents = append(intents, it.intents...)
	}
	if err := s.AddIntents(intents); err != nil {
		stuck = live
	}
	for _, it := range stuck {
		r := *it.rec
		r.State, r.Intents = stateCommit, it.intents
		if err := s.writeRecord(&r); err != nil {
			// The batch record stays and still holds this set.
			s.logger.Error("cannot complete committed write; will retry at next recovery",
				"cert", it.cert, "error", cause, "retry_error", err)
			for _, it := range stuck {
				it.err = fmt.Errorf("cert %q: %w: %w", it.cert, ErrIncomplete, cause)
				s.markStuck(it.cert, name)
			}
			return
		}
	}
	if err := s.removeJournalFile(name); err != nil {
		// Recovery finds every set of it done or recorded again: a no-op.
		s.logger.Error("cannot remove a completed journal record", "record", name, "error", err)
	}
	isStuck := map[*batchItem]bool{}
	for _, it := range stuck {
		isStuck[it] = true
		it.err = fmt.Errorf("cert %q: %w: %w", it.cert, ErrIncomplete, cause)
		s.logger.Error("cannot complete committed write; will retry at next recovery", "cert", it.cert, "error", cause)
	}
	for _, it := range live {
		if !isStuck[it] {
			s.logger.Warn("completed committed write after a transient error", "cert", it.cert, "error", cause)
		}
	}
}

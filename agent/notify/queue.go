package notify

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/certagent/certagent/internal/safefile"
)

// pending is one delivery of one event to one target, as kept on disk
// until the target acknowledges it.
type pending struct {
	Target   string    `json:"target"`
	Event    Event     `json:"event"`
	Attempts int       `json:"attempts"`
	NextAt   time.Time `json:"next_at"`
	LastErr  string    `json:"last_error,omitempty"`
}

func (p *pending) file() string { return p.Target + "." + p.Event.ID + ".json" }

// ledgerFile records, per target, event and cert, when an event was last
// queued: the daily limit must hold across restarts too.
const ledgerFile = "sent.json"

// queue is the on-disk part of the notifier: state_dir/notify/ holds one
// file per pending delivery and the ledger. Every write goes through
// internal/safefile. Only the notifier's methods use it, under its mutex.
type queue struct {
	dir string
}

func (q *queue) open() (*safefile.Dir, error) {
	return safefile.OpenDir(q.dir, true, 0o700)
}

func (q *queue) put(p *pending) error { return q.write(p.file(), p) }

// write replaces name with v as JSON, atomically (safefile.Replace).
func (q *queue) write(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	d, err := q.open()
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(name, b, safefile.Private, nil)
}

func (q *queue) remove(p *pending) error {
	d, err := q.open()
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Remove(p.file())
}

// load reads every pending delivery, oldest event first. A file that
// cannot be read or parsed is reported and left alone.
func (q *queue) load() ([]*pending, []error) {
	ents, err := os.ReadDir(q.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{err}
	}
	var out []*pending
	var errs []error
	for _, e := range ents {
		name := e.Name()
		if name == ledgerFile || !strings.HasSuffix(name, ".json") || safefile.IsTemp(name) {
			continue
		}
		var p pending
		b, err := q.read(name)
		if err == nil {
			err = json.Unmarshal(b, &p)
		}
		if err == nil && p.file() != name {
			err = errors.New("file name does not match its content")
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", filepath.Join(q.dir, name), err))
			continue
		}
		out = append(out, &p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Event.Time.Before(out[j].Event.Time) })
	return out, errs
}

// read opens name with safefile (no untrusted link followed, no FIFO
// blocking) and reads at most 1 MiB.
func (q *queue) read(name string) ([]byte, error) {
	f, err := safefile.OpenRead(filepath.Join(q.dir, name), nil)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

func (q *queue) loadLedger() map[string]time.Time {
	out := map[string]time.Time{}
	if b, err := q.read(ledgerFile); err == nil {
		_ = json.Unmarshal(b, &out) // a damaged ledger only loosens the daily limit once
	}
	return out
}

func (q *queue) saveLedger(l map[string]time.Time) error { return q.write(ledgerFile, l) }

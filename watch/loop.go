package watch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// ref names one watched path of one key.
type ref struct{ key, path string }

// resolved is one watched path of a key with what it resolves to. A key
// has a few paths (cert, key, chain), so each key keeps them in a slice,
// in Set's sorted order, not in a map of its own: a map per key cost
// about 300 bytes per managed cert.
type resolved struct {
	path  string
	names []string // resolve(path)
}

// setNames records names as what path of key resolves to; a path the key
// no longer has is left alone.
func (l *loop) setNames(key, path string, names []string) {
	rs := l.res[key]
	if i, ok := slices.BinarySearchFunc(rs, path, func(r resolved, p string) int { return strings.Compare(r.path, p) }); ok {
		rs[i].names = names
	}
}

// loop is the fsnotify side of a Run: it owns the inotify instance, knows
// where every watched path currently resolves to, keeps the set of
// watched directories equal to the parents of those names, and turns
// inotify events into debouncer touches. Only the Run goroutine uses it.
type loop struct {
	w   *Watcher
	log hclog.Logger
	fw  *fsnotify.Watcher

	res     map[string][]resolved // key -> its paths, sorted, and what they resolve to
	byName  map[string][]ref      // resolved name -> refs
	byDir   map[string][]ref      // directory to watch -> refs
	watched map[string]bool       // directories added to fw
	addErr  map[string]string     // dir -> last Add error logged
}

func newLoop(w *Watcher) (*loop, error) {
	fw, err := w.newInotify()
	if err != nil {
		return nil, fmt.Errorf("watch: start inotify: %w", err)
	}
	return &loop{
		w:       w,
		log:     w.logger,
		fw:      fw,
		res:     map[string][]resolved{},
		watched: map[string]bool{},
		addErr:  map[string]string{},
	}, nil
}

func (l *loop) synced() {
	if l.w.synced != nil {
		l.w.synced()
	}
}

func (l *loop) close() error {
	if err := l.fw.Close(); err != nil {
		return fmt.Errorf("watch: close inotify: %w", err)
	}
	return nil
}

func (l *loop) run(ctx context.Context) {
	// Set calls made before Run are covered by the full sync below.
	select {
	case <-l.w.setKick:
	default:
	}
	l.syncKeys(true)
	l.log.Debug("watching", "keys", len(l.res), "directories", len(l.watched))
	l.synced()
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.w.setKick:
			l.syncKeys(false)
			l.synced()
		case ev, ok := <-l.fw.Events:
			if !ok {
				return
			}
			l.handle(ev)
		case err, ok := <-l.fw.Errors:
			if !ok {
				return
			}
			l.handleErr(err)
		}
	}
}

// syncKeys takes the keys changed by Set (all keys if all) and
// re-resolves them.
func (l *loop) syncKeys(all bool) {
	l.w.mu.Lock()
	want := map[string][]string{}
	if all {
		clear(l.res)
		for k, p := range l.w.paths {
			want[k] = p
		}
	} else {
		for k := range l.w.dirty {
			want[k] = l.w.paths[k] // nil if removed
		}
	}
	// A new map, not clear: the start-up Set of every cert grew it to
	// one entry per key, and a cleared map keeps that size for good.
	if len(l.w.dirty) > 0 {
		l.w.dirty = map[string]struct{}{}
	}
	l.w.mu.Unlock()

	var rv resolver // directories shared by the keys' paths are resolved once
	for k, paths := range want {
		if len(paths) == 0 {
			delete(l.res, k)
			continue
		}
		rs := make([]resolved, len(paths))
		for i, p := range paths {
			rs[i] = resolved{p, rv.resolve(p)}
		}
		l.res[k] = rs
	}
	l.syncWatches()
}

// handle reacts to one inotify event: touch the keys it concerns and
// re-resolve their paths, since a rename or a symlink swap may have moved
// the files (or their directory) somewhere else.
func (l *loop) handle(ev fsnotify.Event) {
	refs := l.byName[ev.Name]
	if l.watched[ev.Name] {
		// The watched directory itself was removed, renamed, replaced
		// or had its mode changed: everything in it is concerned.
		refs = append(refs, l.byDir[ev.Name]...)
		if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
			// The watch is on a dead inode now; drop it so that
			// syncWatches adds the directory afresh if it exists.
			_ = l.fw.Remove(ev.Name)
			delete(l.watched, ev.Name)
		}
	}
	if len(refs) == 0 {
		return
	}
	if l.log.IsDebug() {
		for _, r := range refs {
			l.log.Debug("file activity", "key", r.key, "path", r.path, "name", ev.Name, "op", ev.Op.String())
		}
	}
	l.w.touch(refs)
	for _, r := range refs {
		l.setNames(r.key, r.path, resolve(r.path))
	}
	l.syncWatches()
}

// handleErr logs inotify errors. On a queue overflow events were lost, so
// every key is reported and every watch re-established.
func (l *loop) handleErr(err error) {
	if !errors.Is(err, fsnotify.ErrEventOverflow) {
		l.log.Warn("inotify error", "error", err)
		return
	}
	l.log.Warn("inotify event queue overflowed; re-checking every watched file",
		"error", err, "keys", len(l.res))
	var refs []ref
	for k, rs := range l.res {
		for _, r := range rs {
			refs = append(refs, ref{k, r.path})
		}
	}
	l.w.touch(refs)
	for d := range l.watched {
		_ = l.fw.Remove(d)
	}
	clear(l.watched)
	l.syncKeys(true)
}

// index rebuilds byName and byDir from res.
func (l *loop) index() {
	l.byName = map[string][]ref{}
	l.byDir = map[string][]ref{}
	for k, rs := range l.res {
		for _, res := range rs {
			r := ref{k, res.path}
			for _, n := range res.names {
				l.byName[n] = append(l.byName[n], r)
				d := filepath.Dir(n)
				l.byDir[d] = append(l.byDir[d], r)
			}
		}
	}
}

// syncWatches makes the watched directories equal to the parents of all
// resolved names. A directory that vanishes between resolve and Add sends
// its paths back to resolve, which then finds an existing ancestor.
func (l *loop) syncWatches() {
	for attempt := 0; ; attempt++ {
		l.index()
		for d := range l.watched {
			if _, ok := l.byDir[d]; !ok {
				_ = l.fw.Remove(d)
				delete(l.watched, d)
			}
		}
		var vanished []string
		for d := range l.byDir {
			if l.watched[d] {
				continue
			}
			err := l.fw.Add(d)
			switch {
			case err == nil:
				l.watched[d] = true
				delete(l.addErr, d)
			case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
				vanished = append(vanished, d)
			default:
				l.logAddErr(d, err)
			}
		}
		if len(vanished) == 0 || attempt >= 8 {
			return
		}
		for _, d := range vanished {
			for _, r := range l.byDir[d] {
				l.setNames(r.key, r.path, resolve(r.path))
			}
		}
	}
}

// logAddErr reports a directory that cannot be watched, once per distinct
// error; it is retried at the next change.
func (l *loop) logAddErr(dir string, err error) {
	msg := err.Error()
	if l.addErr[dir] == msg {
		return
	}
	l.addErr[dir] = msg
	hint := ""
	if errors.Is(err, syscall.ENOSPC) {
		hint = "raise the sysctl fs.inotify.max_user_watches"
	}
	l.log.Error("cannot watch directory; changes in it are seen only by the periodic check",
		"dir", dir, "error", err, "hint", hint)
}

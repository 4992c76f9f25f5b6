package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// While inotify cannot be set up (EMFILE once the user's
// fs.inotify.max_user_instances are taken by other daemons, ENOMEM), Run
// finds changes by polling the watched paths every PollInterval and
// retries inotify after RetryMin, doubling up to RetryMax. Without this, a
// daemon started at a bad moment would see damage only at its
// check_interval backstop, for good, while claiming to watch.
const (
	PollInterval = 10 * time.Second
	RetryMin     = 10 * time.Second
	RetryMax     = 5 * time.Minute
)

// HealthKey is the Key of an Event that reports a change of Degraded (in
// either direction) rather than file activity: the receiver re-reads
// Degraded and publishes it. It names no paths.
const HealthKey = ""

// Degraded returns why changes are found by polling every PollInterval
// instead of inotify, or "" while inotify works (or before Run).
func (w *Watcher) Degraded() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.degraded
}

// setDegraded records reason ("" when inotify works again), logs a
// change and queues a HealthKey Event for it.
func (w *Watcher) setDegraded(reason string) {
	w.mu.Lock()
	if w.degraded == reason {
		w.mu.Unlock()
		return
	}
	was := w.degraded
	w.degraded = reason
	w.deb.ready = append(w.deb.ready, Event{Key: HealthKey})
	w.mu.Unlock()
	notify(w.kick)
	switch {
	case reason != "":
		w.logger.Warn("file watching degraded: polling the watched files until inotify can start",
			"event", "watch_degraded", "reason", reason, "poll_interval", w.pollEvery.String())
	case was != "":
		w.logger.Info("file watching restored: inotify is running again", "event", "watch_restored")
	}
}

// supervise runs the inotify loop until ctx is done, polling and retrying
// with backoff whenever inotify cannot start or stops.
func (w *Watcher) supervise(ctx context.Context) {
	delay := w.retryMin
	for ctx.Err() == nil {
		l, err := newLoop(w)
		if err == nil {
			w.mu.Lock()
			w.pollBase = nil
			w.mu.Unlock()
			w.setDegraded("")
			l.run(ctx)
			if cerr := l.close(); cerr != nil {
				w.logger.Warn("cannot close inotify", "error", cerr)
			}
			if ctx.Err() != nil {
				return
			}
			// The event channels closed under us: events may be lost,
			// so every key is re-checked, as after a queue overflow.
			err, delay = errors.New("inotify stopped"), w.retryMin
			w.startPolling()
			w.touch(allRefs(w.snapshot()))
		}
		w.startPolling()
		w.setDegraded(fmt.Sprintf("%s, polling every %s", reasonOf(err), w.pollEvery))
		if !w.pollFor(ctx, delay) {
			return
		}
		delay = min(2*delay, w.retryMax)
	}
}

// startPolling records what the watched paths look like now, unless
// polling already runs: later polls report differences from it.
func (w *Watcher) startPolling() {
	w.mu.Lock()
	running := w.pollBase != nil
	w.mu.Unlock()
	if running {
		return
	}
	base := w.snapshot()
	w.mu.Lock()
	if w.pollBase == nil {
		w.pollBase = base
	}
	w.mu.Unlock()
}

// reasonOf turns a start error into the short text the status line shows,
// e.g. "inotify unavailable (too many open files)".
func reasonOf(err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return "inotify unavailable (" + errno.Error() + ")"
	}
	return strings.TrimPrefix(err.Error(), "watch: ")
}

// pollFor polls the watched paths every pollEvery for d, and once more at
// its end. It reports false when ctx is done.
func (w *Watcher) pollFor(ctx context.Context, d time.Duration) bool {
	retry := time.NewTimer(d)
	defer retry.Stop()
	tick := time.NewTicker(w.pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-retry.C:
			w.poll()
			return true
		case <-tick.C:
			w.poll()
		}
	}
}

// poll touches the paths whose fingerprint differs from pollBase and
// records the new ones. A key Set during the snapshot keeps the
// fingerprints Set recorded; a removed key is forgotten. Empty path sets
// (a removed key) compare equal and are dropped below.
func (w *Watcher) poll() {
	cur := w.snapshot()
	w.mu.Lock()
	var refs []ref
	for k, m := range cur {
		if !samePaths(m, w.paths[k]) {
			continue // Set changed the key meanwhile and recorded its files
		}
		for p, fp := range m {
			if old, ok := w.pollBase[k][p]; ok && old != fp {
				refs = append(refs, ref{k, p})
			}
		}
		w.pollBase[k] = m
	}
	for k := range w.pollBase {
		if _, ok := w.paths[k]; !ok {
			delete(w.pollBase, k)
		}
	}
	w.mu.Unlock()
	w.touch(refs)
}

func samePaths(m map[string]string, paths []string) bool {
	if len(m) != len(paths) {
		return false
	}
	for _, p := range paths {
		if _, ok := m[p]; !ok {
			return false
		}
	}
	return true
}

func allRefs(m map[string]map[string]string) []ref {
	var refs []ref
	for k, ps := range m {
		for p := range ps {
			refs = append(refs, ref{k, p})
		}
	}
	return refs
}

// snapshot fingerprints every watched path: key -> path -> fingerprint.
func (w *Watcher) snapshot() map[string]map[string]string {
	w.mu.Lock()
	keys := make(map[string][]string, len(w.paths))
	for k, p := range w.paths {
		keys[k] = p
	}
	w.mu.Unlock()
	out := make(map[string]map[string]string, len(keys))
	for k, paths := range keys {
		out[k] = fingerprints(paths)
	}
	return out
}

// fingerprints maps each path to its fingerprint.
func fingerprints(paths []string) map[string]string {
	m := make(map[string]string, len(paths))
	for _, p := range paths {
		m[p] = fingerprint(p)
	}
	return m
}

// fingerprint describes what is at path, both the name itself (a symlink
// swapped) and what it leads to: any change inotify would report (write,
// replace by rename, delete, chmod, chown) changes it, through the inode
// number, size, mtime or ctime.
func fingerprint(path string) string {
	var b strings.Builder
	for _, stat := range []func(string) (os.FileInfo, error){os.Lstat, os.Stat} {
		fi, err := stat(path)
		if err != nil {
			b.WriteString("-;")
			continue
		}
		fmt.Fprintf(&b, "%v:%d:%d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if s, ok := fi.Sys().(*syscall.Stat_t); ok {
			fmt.Fprintf(&b, ":%d:%d:%d:%d:%d", s.Dev, s.Ino, s.Uid, s.Gid, s.Ctim.Nano())
		}
		b.WriteString(";")
	}
	return b.String()
}

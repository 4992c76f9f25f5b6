package watch

import (
	"context"
	"sort"
	"sync"
	"time"
)

// debouncer is the pure coalescing state of a Watcher: which keys have
// seen file activity, until when each key must stay quiet before it is
// reported, and which keys are muted by Suppress. It has no goroutines and
// no timers; every method takes the current time from its caller, so the
// rules can be tested without a clock and the loop that drives it
// (deliver) can be tested with testing/synctest.
//
// It is not safe for concurrent use; Watcher guards it with its mutex.
type debouncer struct {
	window time.Duration
	// pending holds keys with activity whose window is still open.
	pending map[string]*pendingKey
	// ready holds keys whose window closed, in the order they closed,
	// waiting for the consumer to receive them.
	ready []Event
	// muted counts active Suppress calls per key.
	muted map[string]int
	// graceUntil is when the swallow period after the last release ends.
	graceUntil map[string]time.Time
}

type pendingKey struct {
	paths map[string]struct{}
	due   time.Time
}

func newDebouncer(window time.Duration) *debouncer {
	return &debouncer{
		window:     window,
		pending:    map[string]*pendingKey{},
		muted:      map[string]int{},
		graceUntil: map[string]time.Time{},
	}
}

// swallowing reports whether activity for key at now is the agent's own
// (see Watcher.Suppress) and must be dropped.
func (d *debouncer) swallowing(key string, now time.Time) bool {
	if d.muted[key] > 0 {
		return true
	}
	until, ok := d.graceUntil[key]
	if !ok {
		return false
	}
	if now.Before(until) {
		return true
	}
	delete(d.graceUntil, key)
	return false
}

// touch records activity on path (one of key's watched paths) at now. The
// key's window restarts: it is reported once no activity was seen for a
// whole window. Activity on a key that is already ready (received by
// nobody yet) is merged into that ready event instead.
func (d *debouncer) touch(key, path string, now time.Time) {
	if d.swallowing(key, now) {
		return
	}
	for i := range d.ready {
		if d.ready[i].Key == key {
			d.ready[i].Paths = mergePaths(d.ready[i].Paths, path)
			return
		}
	}
	p := d.pending[key]
	if p == nil {
		p = &pendingKey{paths: map[string]struct{}{}}
		d.pending[key] = p
	}
	p.paths[path] = struct{}{}
	p.due = now.Add(d.window)
}

// suppress mutes key and forgets its pending and ready activity: the
// agent is about to rewrite the key's files and re-checks them itself.
func (d *debouncer) suppress(key string) {
	d.muted[key]++
	d.forget(key)
}

// release ends one suppress. When the last one ends, activity keeps being
// swallowed for one more window, because the kernel reports the agent's
// final rename asynchronously and it may reach us after release.
func (d *debouncer) release(key string, now time.Time) {
	if d.muted[key] <= 1 {
		delete(d.muted, key)
		d.graceUntil[key] = now.Add(d.window)
	} else {
		d.muted[key]--
	}
	d.forget(key)
}

// forget drops pending and ready activity for key, e.g. when the key is
// removed by Set or muted by suppress.
func (d *debouncer) forget(key string) {
	delete(d.pending, key)
	for i := range d.ready {
		if d.ready[i].Key == key {
			d.ready = append(d.ready[:i], d.ready[i+1:]...)
			break
		}
	}
}

// next returns the earliest time a pending key becomes ready.
func (d *debouncer) next() (time.Time, bool) {
	var first time.Time
	for _, p := range d.pending {
		if first.IsZero() || p.due.Before(first) {
			first = p.due
		}
	}
	return first, !first.IsZero()
}

// advance moves every key whose window closed at or before now to the
// ready queue, in key order for determinism.
func (d *debouncer) advance(now time.Time) {
	var keys []string
	for k, p := range d.pending {
		if !p.due.After(now) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := d.pending[k]
		paths := make([]string, 0, len(p.paths))
		for path := range p.paths {
			paths = append(paths, path)
		}
		sort.Strings(paths)
		d.ready = append(d.ready, Event{Key: k, Paths: paths})
		delete(d.pending, k)
	}
}

// mergePaths adds path to the sorted set paths.
func mergePaths(paths []string, path string) []string {
	i := sort.SearchStrings(paths, path)
	if i < len(paths) && paths[i] == path {
		return paths
	}
	out := make([]string, 0, len(paths)+1)
	out = append(out, paths[:i]...)
	out = append(out, path)
	return append(out, paths[i:]...)
}

// deliver is the loop that turns debouncer state into Events on out. It
// sleeps on one timer set to the earliest pending deadline; kick wakes it
// when another goroutine touched the debouncer. It returns when ctx is
// done. It never blocks the goroutine that feeds the debouncer: events
// wait in the ready queue (and keep coalescing) while out is not read.
func deliver(ctx context.Context, mu *sync.Mutex, d *debouncer, kick <-chan struct{}, out chan<- Event) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		mu.Lock()
		d.advance(time.Now())
		var head Event
		var send chan<- Event
		if len(d.ready) > 0 {
			head, send = d.ready[0], out
		}
		due, ok := d.next()
		mu.Unlock()

		timer.Stop()
		var wake <-chan time.Time
		if ok {
			timer.Reset(time.Until(due))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-wake:
		case send <- head:
			mu.Lock()
			// While we waited to send, the head may have been forgotten
			// (Suppress, Set) or grown by more activity; drop it only if
			// it is still exactly what was received, so nothing is lost.
			if len(d.ready) > 0 && d.ready[0].Key == head.Key && len(d.ready[0].Paths) == len(head.Paths) {
				d.ready = d.ready[1:]
			}
			mu.Unlock()
		}
	}
}

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
	// epoch counts forget calls per key, so that deliver can tell that an
	// event it is offering was withdrawn.
	epoch map[string]uint64
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
		epoch:      map[string]uint64{},
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
	d.epoch[key]++
	delete(d.pending, key)
	for i := range d.ready {
		if d.ready[i].Key == key {
			d.ready = append(d.ready[:i], d.ready[i+1:]...)
			break
		}
	}
}

// requeue puts back an event that could not be handed over, in front.
func (d *debouncer) requeue(ev Event) {
	for i := range d.ready {
		if d.ready[i].Key == ev.Key {
			for _, p := range ev.Paths {
				d.ready[i].Paths = mergePaths(d.ready[i].Paths, p)
			}
			return
		}
	}
	d.ready = append([]Event{ev}, d.ready...)
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
//
// The event being offered on out is taken off the ready queue first, so
// activity during a slow hand-over starts a new debounce window instead
// of changing an event the receiver may already hold. If the key is
// forgotten (Suppress, Set) meanwhile, the offer is withdrawn; if ctx ends
// first, the event goes back to the queue for the next Run.
func deliver(ctx context.Context, mu *sync.Mutex, d *debouncer, kick <-chan struct{}, out chan<- Event) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var (
		offer      Event
		offering   bool
		offerEpoch uint64
	)
	for {
		mu.Lock()
		if offering && d.epoch[offer.Key] != offerEpoch {
			offering = false
		}
		d.advance(time.Now())
		if !offering && len(d.ready) > 0 {
			offer, offering, offerEpoch = d.ready[0], true, d.epoch[d.ready[0].Key]
			d.ready = d.ready[1:]
		}
		due, ok := d.next()
		mu.Unlock()

		var send chan<- Event
		if offering {
			send = out
		}
		timer.Stop()
		var wake <-chan time.Time
		if ok {
			timer.Reset(time.Until(due))
			wake = timer.C
		}
		select {
		case <-ctx.Done():
			if offering {
				mu.Lock()
				d.requeue(offer)
				mu.Unlock()
			}
			return
		case <-kick:
		case <-wake:
		case send <- offer:
			offering = false
		}
	}
}

// Package watch turns inotify activity on certificate files into
// debounced "key X may have changed" events for the agent's scheduler.
//
// A key is a cert name or "watch:NAME"; each key has a set of file paths.
// The Watcher watches the parent directories of those paths, never the
// files (atomic writers replace inodes by rename), follows symlinks
// (watching the link's directory and the target's, re-resolved on every
// relevant event), and falls back to the nearest existing ancestor when a
// directory disappears, so it is picked up again when it comes back.
// Polling happens only while inotify cannot be set up (Degraded); with
// inotify, the only timers are the per-key debounce windows.
//
// Events are hints, not verdicts: the receiver must look at the files and
// decide. See docs/watch.md for the contract with the agent.
package watch

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// DefaultDebounce is the debounce window used when New is given zero.
const DefaultDebounce = 200 * time.Millisecond

// Event says that some of a key's files changed on disk (content, name,
// mode, owner or existence) and that the key's files have been quiet for a
// whole debounce window since.
type Event struct {
	// Key is the key given to Set, or HealthKey.
	Key string
	// Paths are the key's paths (cleaned, as given to Set) that saw
	// activity, deduplicated and sorted. After an inotify queue overflow
	// they are all of the key's paths.
	Paths []string
}

// Watcher watches sets of file paths grouped by key. Its methods are safe
// for concurrent use. The zero value is not usable; call New.
type Watcher struct {
	logger   hclog.Logger
	debounce time.Duration

	mu      sync.Mutex
	paths   map[string][]string // key -> cleaned paths
	dirty   map[string]struct{} // keys changed by Set, not yet seen by Run
	deb     *debouncer
	running bool

	setKick chan struct{} // Set happened; wakes the fsnotify loop
	kick    chan struct{} // debouncer touched; wakes the delivery loop

	// synced, if set (tests only, before Run), is called by the fsnotify
	// loop each time it has applied Set calls and (re)added its watches.
	synced func()

	// newInotify creates the inotify instance; tests replace it to make
	// the start fail.
	newInotify func() (*fsnotify.Watcher, error)
	// retryMin and retryMax bound the backoff between inotify start
	// attempts; pollEvery is the polling interval meanwhile.
	retryMin, retryMax, pollEvery time.Duration
	// degraded is why changes are found by polling ("" with inotify).
	degraded string
	// pollBase is what polling last saw (key -> path -> fingerprint),
	// nil while inotify runs. Set records a new key's files at once, as
	// inotify would start watching them at once.
	pollBase map[string]map[string]string
}

// New returns a Watcher that reports each key at most once per quiet
// debounce window (DefaultDebounce if debounce is 0). It starts nothing:
// call Set and Run.
func New(logger hclog.Logger, debounce time.Duration) *Watcher {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	return &Watcher{
		logger:   logger.Named("watch"),
		debounce: debounce,
		paths:    map[string][]string{},
		dirty:    map[string]struct{}{},
		deb:      newDebouncer(debounce),
		setKick:  make(chan struct{}, 1),
		kick:     make(chan struct{}, 1),

		// A small buffer lets the kernel reader run ahead of a busy loop.
		newInotify: func() (*fsnotify.Watcher, error) { return fsnotify.NewBufferedWatcher(64) },
		retryMin:   RetryMin,
		retryMax:   RetryMax,
		pollEvery:  PollInterval,
	}
}

// Set replaces the paths watched for key; nil or empty removes the key
// and drops any activity not yet delivered for it. Relative paths are made
// absolute against the working directory. Set may be called before Run
// and while Run is active (config reload); it emits no Event itself, so a
// caller that adds a key checks that key's files on its own.
func (w *Watcher) Set(key string, paths []string) {
	clean := make([]string, 0, len(paths))
	for _, p := range paths {
		if p == "" {
			continue
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		clean = append(clean, filepath.Clean(p))
	}
	slices.Sort(clean)
	clean = slices.Compact(clean)
	// Only polling (degraded.go) compares fingerprints: two stats a path
	// that a start with 10,000 certs need not pay under inotify.
	w.mu.Lock()
	polling := w.pollBase != nil
	w.mu.Unlock()
	var fps map[string]string
	if polling {
		fps = fingerprints(clean)
	}

	w.mu.Lock()
	if w.pollBase != nil {
		if fps == nil {
			fps = fingerprints(clean) // polling began meanwhile
		}
		w.pollBase[key] = fps
	}
	old, had := w.paths[key]
	switch {
	case len(clean) == 0 && !had:
		w.mu.Unlock()
		return
	case len(clean) == 0:
		delete(w.paths, key)
		w.deb.forget(key)
	case had && slices.Equal(old, clean):
		w.mu.Unlock()
		return
	default:
		w.paths[key] = clean
	}
	w.dirty[key] = struct{}{}
	w.mu.Unlock()
	notify(w.setKick)
}

// Suppress mutes key while the agent writes the key's files itself, so
// that its own writes never come back to it as an Event. It returns the
// release function; call it once the last rename and directory fsync are
// done (calling it again is a no-op).
//
// The contract, precisely:
//   - From Suppress until one debounce window after the release, all
//     activity on the key's paths is dropped, including activity that was
//     pending or ready but not yet received when Suppress was called. The
//     window after the release swallows the kernel's late report of the
//     agent's final rename.
//   - An Event already received is not recalled, and one being handed to
//     the receiver at the instant Suppress runs may still arrive; the
//     receiver treats it as any Event (look, and act only on a
//     difference), which is harmless because the files are then the
//     agent's own.
//   - External changes made during that time are therefore not reported;
//     the agent must verify the pair it has just written (it does, to
//     decide success), and the check_interval backstop covers the rest.
//   - Suppress calls nest per key; the key is unmuted when every release
//     has been called. Suppress works before Run and between Runs.
func (w *Watcher) Suppress(key string) (release func()) {
	w.mu.Lock()
	w.deb.suppress(key)
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			w.deb.release(key, time.Now())
			w.mu.Unlock()
			notify(w.kick)
		})
	}
}

// Run watches until ctx is done and sends Events on out. It owns the
// inotify instance and two goroutines (the fsnotify loop and the delivery
// loop) and returns only after both exited and inotify is closed. It
// returns nil when ctx is done; the only error is a second concurrent Run.
// When inotify cannot be set up (EMFILE: every daemon of the user shares
// fs.inotify.max_user_instances), Run polls the watched paths every
// PollInterval and retries inotify with backoff; Degraded says why
// meanwhile (see degraded.go). Events not yet received when Run returns
// stay queued for the next Run. Only one Run may be active at a time.
//
// Run never blocks on out for long stretches of inotify input: undelivered
// Events wait in a queue (coalescing further activity) until out is read.
func (w *Watcher) Run(ctx context.Context, out chan<- Event) error {
	w.mu.Lock()
	if w.running {
		w.mu.Unlock()
		return errors.New("watch: Run is already active")
	}
	w.running = true
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running = false
		w.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { deliver(ctx, &w.mu, w.deb, w.kick, out) })
	w.supervise(ctx)
	cancel()
	wg.Wait()
	return nil
}

// touch records activity for (key, path) now and wakes the delivery loop.
func (w *Watcher) touch(refs []ref) {
	if len(refs) == 0 {
		return
	}
	now := time.Now()
	w.mu.Lock()
	for _, r := range refs {
		if _, ok := w.paths[r.key]; ok {
			w.deb.touch(r.key, r.path, now)
		}
	}
	w.mu.Unlock()
	notify(w.kick)
}

// notify does a non-blocking send on a 1-buffered wake-up channel.
func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

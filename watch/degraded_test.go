package watch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// failingInotify is a start that fails with EMFILE, as when the user's
// fs.inotify.max_user_instances are exhausted, recording when it was
// tried.
type failingInotify struct {
	mu    sync.Mutex
	tries []time.Time
}

func (f *failingInotify) start() (*fsnotify.Watcher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tries = append(f.tries, time.Now())
	return nil, syscall.EMFILE
}

func writeFiles(t *testing.T, names ...string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte(n), 0o600); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// recv returns the next Event after letting the bubble settle, or false.
func recv(out chan Event) (Event, bool) {
	synctest.Wait()
	select {
	case ev := <-out:
		return ev, true
	default:
		return Event{}, false
	}
}

// Without inotify, Run says why, finds a deleted file by polling within
// one PollInterval (plus the debounce window), and retries inotify with a
// doubling backoff.
func TestRunPollsWhileInotifyCannotStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		paths := writeFiles(t, "cert.pem", "key.pem")
		fake := &failingInotify{}
		w := New(hclog.NewNullLogger(), 0)
		w.newInotify = fake.start
		w.Set("web", paths)
		out := make(chan Event, 16)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx, out) }()
		start := time.Now()

		ev, ok := recv(out)
		if !ok || ev.Key != HealthKey {
			t.Fatalf("no health event after a failed inotify start: %+v %v", ev, ok)
		}
		if got := w.Degraded(); !strings.Contains(got, "too many open files") || !strings.Contains(got, "polling every 10s") {
			t.Fatalf("Degraded() = %q, want the EMFILE reason and the polling interval", got)
		}

		time.Sleep(3 * time.Second)
		deleted := time.Now()
		if err := os.Remove(paths[1]); err != nil {
			t.Fatal(err)
		}
		var got Event
		for got.Key != "web" && time.Since(deleted) <= PollInterval+DefaultDebounce {
			time.Sleep(100 * ms)
			got, _ = recv(out)
		}
		if got.Key != "web" || len(got.Paths) != 1 || got.Paths[0] != paths[1] {
			t.Fatalf("deleting %s while polling: got %+v within %s, want an event for web naming it", paths[1], got, time.Since(deleted))
		}

		// Attempts at 0, +10s, +20s later (30s), +40s (70s), +80s (150s).
		time.Sleep(150*time.Second - time.Since(start))
		synctest.Wait()
		fake.mu.Lock()
		var at []time.Duration
		for _, tr := range fake.tries {
			at = append(at, tr.Sub(start))
		}
		fake.mu.Unlock()
		want := []time.Duration{0, 10 * time.Second, 30 * time.Second, 70 * time.Second, 150 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("inotify start attempts at %v, want %v", at, want)
		}
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("inotify start attempts at %v, want %v", at, want)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
	})
}

// Polling reports a chmod as inotify would (IN_ATTRIB), and nothing for
// files left alone.
func TestPollSeesModeChangeOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		paths := writeFiles(t, "a.pem", "b.pem")
		w := New(hclog.NewNullLogger(), 0)
		w.newInotify = (&failingInotify{}).start
		w.Set("a", paths[:1])
		w.Set("b", paths[1:])
		out := make(chan Event, 16)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.Run(ctx, out)
		recv(out) // the health event
		if err := os.Chmod(paths[0], 0o644); err != nil {
			t.Fatal(err)
		}
		time.Sleep(PollInterval + DefaultDebounce)
		var keys []string
		for ev, ok := recv(out); ok; ev, ok = recv(out) {
			keys = append(keys, ev.Key)
		}
		if len(keys) != 1 || keys[0] != "a" {
			t.Fatalf("events after chmod of a's file: %v, want exactly [a]", keys)
		}
	})
}

// When inotify can start again, Degraded is cleared (with a health
// event) and changes are reported by inotify. Real inotify, so no bubble.
func TestRunRestoresInotify(t *testing.T) {
	paths := writeFiles(t, "cert.pem")
	w := New(hclog.New(&hclog.LoggerOptions{Output: testWriter{t}}), 0)
	fails := 1
	w.newInotify = func() (*fsnotify.Watcher, error) {
		if fails > 0 {
			fails--
			return nil, syscall.EMFILE
		}
		return fsnotify.NewWatcher()
	}
	w.retryMin, w.pollEvery = 50*ms, time.Hour // only inotify can see the change below
	synced := make(chan struct{}, 16)
	w.synced = func() { synced <- struct{}{} }
	w.Set("web", paths)
	out := make(chan Event, 16)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go w.Run(ctx, out)
	select {
	case <-synced:
	case <-time.After(10 * time.Second):
		t.Fatal("inotify never started after the retry")
	}
	if got := w.Degraded(); got != "" {
		t.Fatalf("Degraded() = %q after inotify started", got)
	}
	health := 0
	for len(out) > 0 {
		if ev := <-out; ev.Key == HealthKey {
			health++
		}
	}
	if err := os.Remove(paths[0]); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-out:
			if ev.Key == HealthKey {
				health++
				continue
			}
			if ev.Key != "web" {
				t.Fatalf("unexpected event %+v", ev)
			}
			if health != 2 {
				t.Errorf("%d health events, want 2 (degraded, restored)", health)
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("no event for the deleted file after inotify was restored")
		}
	}
}

// A key Set while polling is compared with its files as they were at Set
// (as inotify would watch them from then on): a file deleted before the
// next poll is reported.
func TestPollKeySetWhileDegraded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := New(hclog.NewNullLogger(), 0)
		w.newInotify = (&failingInotify{}).start
		out := make(chan Event, 16)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.Run(ctx, out)
		recv(out) // the health event
		time.Sleep(time.Second)
		paths := writeFiles(t, "cert.pem", "key.pem")
		w.Set("det", paths) // a config reload
		if err := os.Remove(paths[1]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(PollInterval + DefaultDebounce)
		ev, ok := recv(out)
		if !ok || ev.Key != "det" || len(ev.Paths) != 1 || ev.Paths[0] != paths[1] {
			t.Fatalf("after deleting a file of a key Set while polling: %+v %v, want an event for det naming %s", ev, ok, paths[1])
		}
	})
}

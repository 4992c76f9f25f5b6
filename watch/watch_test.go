package watch

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"
)

// These tests use the real inotify on t.TempDir trees.

const window = 200 * ms

type running struct {
	window time.Duration
	w      *Watcher
	out    chan Event
	synced chan struct{}
}

// start runs a Watcher with keys already Set and waits until its watches
// are in place, so that the test's changes cannot race the set-up.
func start(t *testing.T, keys map[string][]string) *running {
	t.Helper()
	return startWindow(t, window, keys)
}

// startWindow is start with a debounce window of its own: tests whose
// steps must fall inside one window use a long one, so that a loaded CI
// machine oversleeping cannot split them.
func startWindow(t *testing.T, window time.Duration, keys map[string][]string) *running {
	t.Helper()
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: testWriter{t}})
	r := &running{
		window: window,
		w:      New(logger, window),
		out:    make(chan Event, 16),
		synced: make(chan struct{}, 16),
	}
	r.w.synced = func() { r.synced <- struct{}{} }
	for k, p := range keys {
		r.w.Set(k, p)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.w.Run(ctx, r.out) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	r.waitSynced(t)
	return r
}

func (r *running) waitSynced(t *testing.T) {
	t.Helper()
	select {
	case <-r.synced:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not apply its paths")
	}
}

// next waits for one event; generous, since the bound that matters (one
// window of quiet) is enforced by the debouncer tests, not by wall time.
func (r *running) next(t *testing.T) Event {
	t.Helper()
	select {
	case ev := <-r.out:
		t.Logf("%s received %+v", time.Now().Format("05.000"), ev)
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return Event{}
	}
}

// none asserts that no event arrives for a few windows.
func (r *running) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-r.out:
		t.Fatalf("unexpected event %+v", ev)
	case <-time.After(3 * r.window):
	}
}

func expect(t *testing.T, got Event, key string, paths ...string) {
	t.Helper()
	want := Event{Key: key, Paths: paths}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("event = %+v, want %+v", got, want)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// replace writes path the way atomic writers do: temp file, rename.
func replace(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	write(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func pair(t *testing.T) (dir, cert, key string) {
	dir = filepath.Join(t.TempDir(), "tls")
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write(t, cert, "cert1")
	write(t, key, "key1")
	return dir, cert, key
}

func TestDeleteIsReported(t *testing.T) {
	t.Parallel()
	_, cert, key := pair(t)
	r := start(t, map[string][]string{"web": {cert, key}})
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", key)
	r.none(t)
}

func TestChmodIsReported(t *testing.T) {
	t.Parallel()
	_, cert, key := pair(t)
	r := start(t, map[string][]string{"web": {cert, key}})
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", key)
}

func TestUnrelatedFilesAreIgnored(t *testing.T) {
	t.Parallel()
	dir, cert, key := pair(t)
	r := start(t, map[string][]string{"web": {cert, key}})
	write(t, filepath.Join(dir, "other.pem"), "x")
	replace(t, filepath.Join(dir, "notes.txt"), "x")
	r.none(t)
}

func TestTwoStepReplaceWithinWindowIsOneEvent(t *testing.T) {
	t.Parallel()
	_, cert, key := pair(t)
	r := startWindow(t, time.Second, map[string][]string{"web": {cert, key}})
	replace(t, key, "key2")
	time.Sleep(150 * ms)
	replace(t, cert, "cert2")
	expect(t, r.next(t), "web", cert, key)
	r.none(t)
}

func TestCertbotFileSymlinkSwap(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	live := filepath.Join(base, "live", "web")
	archive := filepath.Join(base, "archive", "web")
	write(t, filepath.Join(archive, "cert1.pem"), "c1")
	write(t, filepath.Join(archive, "cert2.pem"), "c2")
	write(t, filepath.Join(live, "README"), "")
	cert := filepath.Join(live, "cert.pem")
	if err := os.Symlink("../../archive/web/cert1.pem", cert); err != nil {
		t.Fatal(err)
	}
	r := start(t, map[string][]string{"watch:web": {cert}})
	swapLink(t, "../../archive/web/cert2.pem", cert)
	expect(t, r.next(t), "watch:web", cert)
	r.none(t)
	// The new target is watched, the old one no longer.
	write(t, filepath.Join(archive, "cert1.pem"), "c1b")
	r.none(t)
	if err := os.Chmod(filepath.Join(archive, "cert2.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "watch:web", cert)
}

func TestLinkedDirectorySwap(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	for _, v := range []string{"x1", "x2"} {
		write(t, filepath.Join(base, "archive", v, "cert.pem"), v)
		write(t, filepath.Join(base, "archive", v, "key.pem"), v)
	}
	if err := os.Mkdir(filepath.Join(base, "live"), 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "live", "x")
	if err := os.Symlink("../archive/x1", link); err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(link, "cert.pem"), filepath.Join(link, "key.pem")
	r := start(t, map[string][]string{"watch:x": {cert, key}})
	swapLink(t, "../archive/x2", link)
	expect(t, r.next(t), "watch:x", cert, key)
	r.none(t)
	replace(t, filepath.Join(base, "archive", "x2", "key.pem"), "x2b")
	expect(t, r.next(t), "watch:x", key)
}

// swapLink points link at target the way certbot does: a new symlink
// renamed over the old one.
func swapLink(t *testing.T, target, link string) {
	t.Helper()
	tmp := link + ".new"
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
}

func TestDirectoryDeletedAndRecreated(t *testing.T) {
	t.Parallel()
	dir, cert, key := pair(t)
	r := startWindow(t, 500*ms, map[string][]string{"web": {cert, key}})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", cert, key)
	r.none(t)
	write(t, key, "key2") // creates the directory again
	write(t, cert, "cert2")
	expect(t, r.next(t), "web", cert, key)
	r.none(t)
	// The new directory is watched.
	if err := os.Chmod(cert, 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", cert)
	// And a directory renamed away and back is followed too.
	if err := os.Rename(dir, dir+".old"); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", cert, key)
	if err := os.Rename(dir+".old", dir); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", cert, key)
	write(t, key, "key3")
	expect(t, r.next(t), "web", key)
}

func TestSetWhileRunning(t *testing.T) {
	t.Parallel()
	_, certA, keyA := pair(t)
	_, certB, _ := pair(t)
	r := start(t, map[string][]string{"a": {certA, keyA}})
	r.w.Set("b", []string{certB})
	r.waitSynced(t)
	write(t, certB, "b2")
	expect(t, r.next(t), "b", certB)
	r.w.Set("a", nil)
	r.waitSynced(t)
	write(t, keyA, "a2")
	r.none(t)
	r.w.Set("a", []string{keyA}) // narrowed set: cert no longer watched
	r.waitSynced(t)
	write(t, certA, "a3")
	r.none(t)
	write(t, keyA, "a3")
	expect(t, r.next(t), "a", keyA)
}

func TestSuppressSwallowsOwnWrites(t *testing.T) {
	t.Parallel()
	_, cert, key := pair(t)
	r := startWindow(t, 500*ms, map[string][]string{"web": {cert, key}})
	release := r.w.Suppress("web")
	replace(t, key, "key2")
	replace(t, cert, "cert2")
	release()
	release() // idempotent
	r.none(t)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	expect(t, r.next(t), "web", key)
}

func TestOverflowReportsEveryKey(t *testing.T) {
	t.Parallel()
	_, certA, keyA := pair(t)
	_, certB, _ := pair(t)
	w := New(nil, window)
	w.Set("a", []string{certA, keyA})
	w.Set("b", []string{certB})
	l, err := newLoop(w)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.syncKeys(true)
	l.handleErr(fsnotify.ErrEventOverflow)
	w.deb.advance(time.Now().Add(window))
	want := []Event{{Key: "a", Paths: []string{certA, keyA}}, {Key: "b", Paths: []string{certB}}}
	if !reflect.DeepEqual(w.deb.ready, want) {
		t.Fatalf("after overflow ready = %v, want %v", w.deb.ready, want)
	}
	if len(l.watched) != 2 {
		t.Fatalf("watches not re-established after overflow: %v", l.watched)
	}
}

// Not parallel: it counts the process's goroutines, and parallel tests
// only start after every sequential one has finished.
func TestRunReturnsOnCancelWithoutLeaks(t *testing.T) {
	before := runtime.NumGoroutine()
	_, cert, key := pair(t)
	w := New(nil, window)
	w.Set("web", []string{cert, key})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, make(chan Event)) }() // never read
	write(t, key, "x")                                   // leaves an event blocked on out
	time.Sleep(2 * window)
	if err := w.Run(ctx, nil); err == nil {
		t.Error("a second concurrent Run was accepted")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines leaked: %d before, %d after\n%s",
				before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * ms)
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

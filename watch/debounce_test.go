package watch

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

const ms = time.Millisecond

func TestDebouncerCoalescesUntilQuiet(t *testing.T) {
	d := newDebouncer(200 * ms)
	d.touch("web", "/tls/key.pem", t0)
	d.touch("web", "/tls/cert.pem", t0.Add(150*ms))
	d.touch("web", "/tls/key.pem", t0.Add(160*ms))
	due, ok := d.next()
	if !ok || !due.Equal(t0.Add(360*ms)) {
		t.Fatalf("next = %v, %v; want the last touch + window (%v)", due, ok, t0.Add(360*ms))
	}
	d.advance(t0.Add(359 * ms))
	if len(d.ready) != 0 {
		t.Fatalf("ready before the window was quiet: %v", d.ready)
	}
	d.advance(t0.Add(360 * ms))
	want := []Event{{Key: "web", Paths: []string{"/tls/cert.pem", "/tls/key.pem"}}}
	if !reflect.DeepEqual(d.ready, want) {
		t.Fatalf("ready = %v, want %v", d.ready, want)
	}
	if _, ok := d.next(); ok {
		t.Fatal("a key is still pending after it became ready")
	}
	// Activity while the event waits for its receiver joins it.
	d.touch("web", "/tls/chain.pem", t0.Add(400*ms))
	want[0].Paths = []string{"/tls/cert.pem", "/tls/chain.pem", "/tls/key.pem"}
	if !reflect.DeepEqual(d.ready, want) || len(d.pending) != 0 {
		t.Fatalf("ready = %v pending = %v, want merged %v", d.ready, d.pending, want)
	}
}

func TestDebouncerKeysAreIndependent(t *testing.T) {
	d := newDebouncer(200 * ms)
	d.touch("a", "/a", t0)
	d.touch("b", "/b", t0.Add(100*ms))
	d.advance(t0.Add(200 * ms))
	if len(d.ready) != 1 || d.ready[0].Key != "a" {
		t.Fatalf("ready = %v, want only a (b's window is still open)", d.ready)
	}
}

func TestDebouncerSuppressSwallowsOwnWrites(t *testing.T) {
	d := newDebouncer(200 * ms)
	d.touch("web", "/cert", t0) // external change pending before the write
	d.suppress("web")
	if len(d.pending) != 0 {
		t.Fatal("suppress kept the pending activity of the key being rewritten")
	}
	d.touch("web", "/cert", t0.Add(10*ms)) // the agent's own write
	d.release("web", t0.Add(20*ms))
	d.touch("web", "/cert", t0.Add(219*ms)) // its late kernel report
	d.advance(t0.Add(time.Second))
	if len(d.ready)+len(d.pending) != 0 {
		t.Fatalf("own writes leaked: ready %v pending %v", d.ready, d.pending)
	}
	d.touch("web", "/cert", t0.Add(220*ms)) // a real change after the grace
	d.advance(t0.Add(time.Second))
	if len(d.ready) != 1 {
		t.Fatalf("change after the grace window not reported: %v", d.ready)
	}
}

func TestDebouncerSuppressNests(t *testing.T) {
	d := newDebouncer(200 * ms)
	d.suppress("web")
	d.suppress("web")
	d.release("web", t0)
	d.touch("web", "/cert", t0.Add(time.Hour))
	if len(d.pending) != 0 {
		t.Fatal("key unmuted while a Suppress was still held")
	}
	d.release("web", t0.Add(time.Hour))
	d.touch("web", "/cert", t0.Add(time.Hour+200*ms))
	if len(d.pending) != 1 {
		t.Fatal("key still muted after every release")
	}
}

// harness runs deliver in a synctest bubble the way Run does.
type harness struct {
	mu   sync.Mutex
	d    *debouncer
	kick chan struct{}
	out  chan Event
}

func startDeliver(t *testing.T, window time.Duration) *harness {
	h := &harness{d: newDebouncer(window), kick: make(chan struct{}, 1), out: make(chan Event)}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { deliver(ctx, &h.mu, h.d, h.kick, h.out); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *harness) touch(key, path string) {
	h.mu.Lock()
	h.d.touch(key, path, time.Now())
	h.mu.Unlock()
	notify(h.kick)
}

// received returns what deliver sent since the last call, after letting
// every goroutine in the bubble run until it blocks.
func (h *harness) received() []Event {
	var evs []Event
	for {
		synctest.Wait()
		select {
		case ev := <-h.out:
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

func TestDeliverTwoStepWriteIsOneEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startDeliver(t, 200*ms)
		h.touch("web", "/tls/key.pem")
		time.Sleep(150 * ms)
		h.touch("web", "/tls/cert.pem")
		time.Sleep(199 * ms)
		if evs := h.received(); len(evs) != 0 {
			t.Fatalf("delivered before 200ms of quiet: %v", evs)
		}
		time.Sleep(1 * ms)
		want := []Event{{Key: "web", Paths: []string{"/tls/cert.pem", "/tls/key.pem"}}}
		if evs := h.received(); !reflect.DeepEqual(evs, want) {
			t.Fatalf("got %v, want exactly %v", evs, want)
		}
		time.Sleep(time.Hour)
		if evs := h.received(); len(evs) != 0 {
			t.Fatalf("extra events: %v", evs)
		}
	})
}

func TestDeliverSlowReceiverLosesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startDeliver(t, 200*ms)
		h.touch("a", "/a")
		h.touch("b", "/b")
		h.touch("c", "/c")
		time.Sleep(300 * ms) // all ready, nobody receiving; a is offered
		h.touch("a", "/a2")  // after a was offered: a new window
		h.touch("b", "/b2")  // joins b's waiting event
		got := h.received()
		want := []Event{{Key: "a", Paths: []string{"/a"}}, {Key: "b", Paths: []string{"/b", "/b2"}}, {Key: "c", Paths: []string{"/c"}}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		time.Sleep(200 * ms)
		want = []Event{{Key: "a", Paths: []string{"/a2"}}}
		if got := h.received(); !reflect.DeepEqual(got, want) {
			t.Fatalf("after another window got %v, want %v", got, want)
		}
	})
}

func TestDeliverWithdrawsSuppressedOffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startDeliver(t, 200*ms)
		h.touch("web", "/cert")
		time.Sleep(300 * ms) // offered, nobody receiving
		h.mu.Lock()
		h.d.suppress("web")
		h.mu.Unlock()
		notify(h.kick)
		if got := h.received(); len(got) != 0 {
			t.Fatalf("suppressed key still delivered: %v", got)
		}
	})
}

func TestDeliverStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDebouncer(200 * ms)
		var mu sync.Mutex
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		out := make(chan Event) // never read
		kick := make(chan struct{}, 1)
		go func() { deliver(ctx, &mu, d, kick, out); close(done) }()
		mu.Lock()
		d.touch("web", "/cert", time.Now())
		mu.Unlock()
		notify(kick)
		time.Sleep(time.Second) // the event is blocked on out
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("deliver did not return after cancel while blocked on out")
		}
		mu.Lock()
		defer mu.Unlock()
		if len(d.ready) != 1 {
			t.Fatalf("undelivered event lost on cancel: %v", d.ready)
		}
	})
}

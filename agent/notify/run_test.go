package notify

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// flaky fails its first n sends and records when each attempt came.
type flaky struct {
	mu    sync.Mutex
	fail  int
	at    []time.Time
	block chan struct{} // non-nil: every send waits for it (or ctx)
}

func (f *flaky) send(ctx context.Context, ev Event) error {
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.at = append(f.at, time.Now())
	if len(f.at) <= f.fail {
		return errors.New("receiver down")
	}
	return nil
}

func (f *flaky) attempts() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.at...)
}

func runWith(t *testing.T, s sender) (*Notifier, context.CancelFunc, chan error) {
	n := New(Options{Dir: filepath.Join(t.TempDir(), "notify")})
	n.Configure(map[string]*config.Notify{"ops": webhookTarget("http://127.0.0.1:1/")})
	n.targets["ops"].s = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	return n, cancel, done
}

// TestRunRetriesOnSchedule: Run's own timers retry a failed delivery at
// 30s, then 1m, then 2m after each failure (fake time in a bubble).
func TestRunRetriesOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{fail: 3}
		n, cancel, done := runWith(t, f)
		start := time.Now()
		n.Emit(Event{Kind: "expiring", Cert: "web"})
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		got := f.attempts()
		want := []time.Duration{0, 30 * time.Second, 90 * time.Second, 210 * time.Second}
		if len(got) != len(want) {
			t.Fatalf("attempts at %v, want %d attempts", got, len(want))
		}
		for i, w := range want {
			if d := got[i].Sub(start); d != w {
				t.Errorf("attempt %d after %v, want %v", i+1, d, w)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
}

// TestEmitNeverWaitsForDelivery: while a delivery hangs, Emit returns
// and Run returns once ctx ends, after the delivery stopped.
func TestEmitNeverWaitsForDelivery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{block: make(chan struct{})}
		n, cancel, done := runWith(t, f)
		n.Emit(Event{Kind: "expiring", Cert: "web"})
		synctest.Wait() // the delivery is now stuck in send
		n.Emit(Event{Kind: "expiring", Cert: "api"})
		n.Emit(Event{Kind: "rolled_back", Cert: "web"})
		n.mu.Lock()
		queued := len(n.pending)
		n.mu.Unlock()
		if queued != 3 {
			t.Errorf("pending = %d while a delivery hangs, want 3", queued)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
		if len(f.attempts()) != 0 {
			t.Errorf("a cancelled delivery was recorded as an attempt")
		}
	})
}

// TestRunDailyLimitInFakeTime: with the real clock of a bubble, a
// repeated event is delivered once per 24h.
func TestRunDailyLimitInFakeTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &flaky{}
		n, cancel, done := runWith(t, f)
		for range 48 {
			n.Emit(Event{Kind: "expiring", Cert: "web"})
			time.Sleep(time.Hour)
			synctest.Wait()
		}
		if got := len(f.attempts()); got != 2 {
			t.Errorf("48 hourly events over 2 days delivered %d times, want 2", got)
		}
		cancel()
		<-done
	})
}

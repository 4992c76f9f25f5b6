package tick

import (
	"context"
	"testing"
)

func TestTickerFiresRepeatedly(t *testing.T) {
	tk, err := New(t.Context(), 1000) // 1 µs: expiries pile up and are coalesced
	if err != nil {
		t.Fatal(err)
	}
	defer tk.Close()
	for i := 0; i < 3; i++ {
		if !tk.Wait() {
			t.Fatalf("Wait %d = false on a running ticker", i)
		}
	}
}

func TestTickerStopsWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	tk, err := New(ctx, 1<<62) // never fires on its own
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { done <- tk.Wait() }()
	cancel()
	if <-done {
		t.Fatal("Wait = true after the context ended")
	}
	if tk.Wait() {
		t.Fatal("Wait = true on a closed ticker")
	}
	tk.Close() // idempotent
}

func TestTickerRejectsZeroInterval(t *testing.T) {
	if _, err := New(t.Context(), 0); err == nil {
		t.Fatal("New(0) succeeded")
	}
}

package agent

import (
	"context"
	"slices"
	"testing"
	"time"
)

// TestSnapshotFromAnotherGoroutine: Snapshot is read while Run inspects and
// issues (go test -race reports any unsynchronized access), sees every
// cert come out ok, and hands out copies that callers may change.
func TestSnapshotFromAnotherGoroutine(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx) }()
	for {
		rows := ta.Snapshot()
		ok := len(rows) == 4
		for i := range rows {
			ok = ok && rows[i].State == StateOK && rows[i].Serial != ""
			rows[i].SANs = append(rows[i].SANs[:0], "scribbled.example.com")
		}
		if ok {
			break
		}
		time.Sleep(time.Millisecond) // poll; the Run goroutine does the work
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows := ta.Snapshot()
	if len(rows) != 4 || !slices.Equal(rows[0].SANs, []string{"a.example.com"}) {
		t.Fatalf("a caller's change to a returned row reached the agent: %+v", rows)
	}
}

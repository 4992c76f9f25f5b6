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

// TestSnapshotCopiesRecords: a caller that changes a row's revocation
// record changes only its own copy.
func TestSnapshotCopiesRecords(t *testing.T) {
	a := &Agent{}
	a.share([]CertStatus{{Name: "a", Revocation: &RevocationStatus{Serial: "abc", Reason: "superseded"}}})
	rows := a.Snapshot()
	rows[0].Revocation.Reason = "scribbled"
	if got := a.Snapshot()[0].Revocation.Reason; got != "superseded" {
		t.Fatalf("a caller's change to a returned revocation reached the agent: %q", got)
	}
}

// TestSharedAfterTheFirstPass: until the first pass shares its rows,
// Snapshot is empty and Shared is open, so a status request waits
// instead of answering "no certs".
func TestSharedAfterTheFirstPass(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	select {
	case <-ta.Shared():
		t.Fatal("Shared is closed before any pass")
	default:
	}
	if rows := ta.Snapshot(); len(rows) != 0 {
		t.Fatalf("rows before the first pass: %v", rows)
	}
	ta.pass(context.Background(), passOptions{})
	select {
	case <-ta.Shared():
	default:
		t.Fatal("Shared still open after the first pass")
	}
	if rows := ta.Snapshot(); len(rows) == 0 {
		t.Fatal("no rows after the first pass")
	}
}

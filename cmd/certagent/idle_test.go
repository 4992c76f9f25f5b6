package main

import (
	"math"
	"runtime/debug"
	"testing"
)

// After a pass the collector is off under a memory limit near what is in
// use; before the next it is back to the default, without a limit.
func TestIdleCollectorStopsGCBetweenPasses(t *testing.T) {
	noOperatorGCSettings(t)
	h := idleCollector()
	if h.Busy == nil || h.Idle == nil {
		t.Fatal("no hooks without GOGC/GOMEMLIMIT")
	}
	h.Idle()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("GC percent while idle = %d, want -1 (off)", p)
	}
	if l := debug.SetMemoryLimit(-1); l == math.MaxInt64 || l < idleHeadroom {
		t.Fatalf("memory limit while idle = %d, want in-use memory plus %d", l, idleHeadroom)
	}
	h.Busy()
	if p := debug.SetGCPercent(-1); p != 100 {
		t.Fatalf("GC percent during a pass = %d, want 100", p)
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Fatalf("memory limit during a pass = %d, want none", l)
	}
}

// An operator's GOGC or GOMEMLIMIT wins: the daemon then changes nothing.
func TestIdleCollectorLeavesOperatorSettings(t *testing.T) {
	t.Setenv("GOGC", "50")
	if h := idleCollector(); h.Busy != nil || h.Idle != nil {
		t.Fatal("hooks installed although GOGC is set")
	}
}

// Start-up, up to the end of the first pass, runs at startGCPercent; the
// first Busy (before the first pass) keeps it.
func TestIdleCollectorStartUp(t *testing.T) {
	noOperatorGCSettings(t)
	h := idleCollector()
	if p := debug.SetGCPercent(startGCPercent); p != startGCPercent {
		t.Fatalf("GC percent at start-up = %d, want %d", p, startGCPercent)
	}
	h.Busy()
	if p := debug.SetGCPercent(startGCPercent); p != startGCPercent {
		t.Fatalf("GC percent in the first pass = %d, want %d", p, startGCPercent)
	}
	h.Idle()
	h.Busy()
	if p := debug.SetGCPercent(-1); p != 100 {
		t.Fatalf("GC percent in the second pass = %d, want 100", p)
	}
}

// noOperatorGCSettings clears GOGC and GOMEMLIMIT for the test and puts the
// collector settings back afterwards.
func noOperatorGCSettings(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
}

package agent

import (
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRenewAt(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name     string
		p        Policy
		lifetime time.Duration
		// the renewal time must fall in [lo, hi] measured from NotBefore
		lo, hi time.Duration
	}{
		{"90d third", Policy{Name: "a"}, 90 * day, 60*day - 3*day*90/100, 60 * day},
		{"10d half", Policy{Name: "a"}, 10 * day, 5*day - 3*10*day/100, 5 * day},
		{"6d shortlived half", Policy{Name: "b"}, 6 * day, 3*day - 3*6*day/100, 3 * day},
		{"11d third", Policy{Name: "a"}, 11 * day, 11*day*2/3 - 11*day*3/100, 11 * day * 2 / 3},
		{"renew_before 20d", Policy{Name: "a", Before: 20 * day}, 90 * day, 70*day - 3*90*day/100, 70 * day},
		{"renew_before 50%", Policy{Name: "a", Fraction: 0.5}, 90 * day, 45*day - 3*90*day/100, 45 * day},
		{"10 minute cert", Policy{Name: "q"}, 10 * time.Minute, 5*time.Minute - 18*time.Second, 5 * time.Minute},
		{"margin beyond lifetime clamps to NotBefore", Policy{Name: "a", Before: 100 * day}, 90 * day, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			at, reason := RenewAt(tc.p, t0, t0.Add(tc.lifetime), nil)
			got := at.Sub(t0)
			if got < tc.lo || got > tc.hi {
				t.Fatalf("renew at NotBefore+%s, want within [%s, %s] (%s)", got, tc.lo, tc.hi, reason)
			}
			if reason == "" {
				t.Fatal("no reason given")
			}
			again, _ := RenewAt(tc.p, t0, t0.Add(tc.lifetime), nil)
			if !again.Equal(at) {
				t.Fatal("jitter is not deterministic")
			}
		})
	}
}

func TestRenewAtJitterSpreadsCerts(t *testing.T) {
	seen := map[time.Time]bool{}
	for _, n := range []string{"a", "b", "c", "d", "e", "f"} {
		at, _ := RenewAt(Policy{Name: n}, t0, t0.Add(90*24*time.Hour), nil)
		seen[at] = true
	}
	if len(seen) < 5 {
		t.Fatalf("six certs share %d renewal times; jitter does not spread them", len(seen))
	}
}

func TestRenewAtARIWindow(t *testing.T) {
	win := &RenewalWindow{Start: t0.Add(10 * time.Hour), End: t0.Add(12 * time.Hour)}
	at, reason := RenewAt(Policy{Name: "web"}, t0.Add(-80*24*time.Hour), t0.Add(10*24*time.Hour), win)
	if at.Before(win.Start) || !at.Before(win.End) {
		t.Fatalf("renew at %s, outside the window %s–%s", at, win.Start, win.End)
	}
	if reason == "" {
		t.Fatal("no reason")
	}
	// An empty or inverted window falls back to the lifetime policy.
	bad := &RenewalWindow{Start: win.End, End: win.Start}
	at2, _ := RenewAt(Policy{Name: "web"}, t0, t0.Add(90*24*time.Hour), bad)
	at3, _ := RenewAt(Policy{Name: "web"}, t0, t0.Add(90*24*time.Hour), nil)
	if !at2.Equal(at3) {
		t.Fatal("an inverted ARI window was not ignored")
	}
}

func TestBackoff(t *testing.T) {
	prev := time.Duration(0)
	for n := 1; n <= 20; n++ {
		d := Backoff("web", n)
		if d < 54*time.Second || d > BackoffMax {
			t.Fatalf("failure %d: backoff %s outside [54s, 6h]", n, d)
		}
		if n <= 8 && d <= prev {
			t.Fatalf("failure %d: backoff %s did not grow from %s", n, d, prev)
		}
		prev = d
	}
	if d := Backoff("web", 1); d > 66*time.Second {
		t.Fatalf("first backoff %s, want about 1m", d)
	}
	if d := Backoff("web", 30); d < 5*time.Hour {
		t.Fatalf("backoff after 30 failures %s, want near the 6h cap", d)
	}
}

func TestSleepCapped(t *testing.T) {
	if d := Sleep(t0, t0.Add(30*24*time.Hour)); d != MaxSleep {
		t.Fatalf("sleep %s, want cap %s", d, MaxSleep)
	}
	if d := Sleep(t0, t0.Add(-time.Hour)); d != 0 {
		t.Fatalf("sleep %s for a past time, want 0", d)
	}
	if d := Sleep(t0, t0.Add(5*time.Minute)); d != 5*time.Minute {
		t.Fatalf("sleep %s, want 5m", d)
	}
}

// TestSuspendCannotSkipRenewal drives a planner loop in a synctest bubble:
// the wall clock jumps (as after a host suspend) but the loop's capped
// sleeps re-plan from NotAfter and wake within MaxSleep of the due time.
func TestSuspendCannotSkipRenewal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		notAfter := start.Add(90 * 24 * time.Hour)
		due, _ := RenewAt(Policy{Name: "det"}, start, notAfter, nil)
		var woke []time.Time
		for now := time.Now(); now.Before(due); now = time.Now() {
			time.Sleep(Sleep(now, due))
			woke = append(woke, time.Now())
		}
		if got := time.Now().Sub(due); got < 0 || got > MaxSleep {
			t.Fatalf("renewal noticed %s after due, want within %s", got, MaxSleep)
		}
		for i := 1; i < len(woke); i++ {
			if gap := woke[i].Sub(woke[i-1]); gap > MaxSleep {
				t.Fatalf("timer slept %s, longer than the %s cap", gap, MaxSleep)
			}
		}
	})
}

package agent

import (
	"testing"
	"testing/synctest"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestRenewAt(t *testing.T) {
	day := 24 * time.Hour
	// j is the widest jitter: jitterShare of the lifetime.
	j := func(l time.Duration) time.Duration { return l / 10 }
	tests := []struct {
		name     string
		p        Policy
		lifetime time.Duration
		// the renewal time must fall in [lo, hi] measured from NotBefore
		lo, hi time.Duration
	}{
		{"90d third", Policy{Name: "a"}, 90 * day, 60*day - j(90*day), 60 * day},
		{"10d half", Policy{Name: "a"}, 10 * day, 5*day - j(10*day), 5 * day},
		{"6d shortlived half", Policy{Name: "b"}, 6 * day, 3*day - j(6*day), 3 * day},
		{"11d third", Policy{Name: "a"}, 11 * day, 11*day*2/3 - j(11*day), 11 * day * 2 / 3},
		{"renew_before 20d", Policy{Name: "a", Before: 20 * day}, 90 * day, 70*day - j(90*day), 70 * day},
		{"renew_before 50%", Policy{Name: "a", Fraction: 0.5}, 90 * day, 45*day - j(90*day), 45 * day},
		{"10 minute cert", Policy{Name: "q"}, 10 * time.Minute, 5*time.Minute - time.Minute, 5 * time.Minute},
		{"seeded", Policy{Name: "a", Seed: []byte("host-1")}, 90 * day, 60*day - j(90*day), 60 * day},
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

// TestBackoff: without a cert on disk the window doubles from 1 min to
// the 6 h cap and every wait falls inside it; across hosts (seeds) the
// waits fill the window, not a ±10% band around it.
func TestBackoff(t *testing.T) {
	window := BackoffMin
	for n := 1; n <= 20; n++ {
		var lo, hi time.Duration
		for h := range 50 {
			d := Backoff(Policy{Name: "web", Seed: seed(h)}, n, t0, time.Time{})
			if d < time.Second || d > window {
				t.Fatalf("failure %d: backoff %s outside [1s, %s]", n, d, window)
			}
			if h == 0 || d < lo {
				lo = d
			}
			hi = max(hi, d)
		}
		// Full jitter: 50 hosts cover most of the window.
		if lo > window/5 || hi < window*4/5 {
			t.Fatalf("failure %d: 50 hosts wait %s–%s, want most of [1s, %s]", n, lo, hi, window)
		}
		window = min(2*window, BackoffMax)
	}
	p := Policy{Name: "web", Seed: seed(1)}
	if a, b := Backoff(p, 3, t0, time.Time{}), Backoff(p, 3, t0.Add(time.Hour), time.Time{}); a != b {
		t.Fatalf("backoff is not deterministic: %s then %s", a, b)
	}
}

// TestBackoffBoundedByRemainingLifetime: the next retry is at most
// max(5 s, a quarter of the remaining lifetime) away, however many
// failures came before, so a short cert is retried before it expires.
func TestBackoffBoundedByRemainingLifetime(t *testing.T) {
	for _, tc := range []struct {
		left, bound time.Duration
	}{
		{80 * time.Second, 20 * time.Second},
		{60 * time.Second, 15 * time.Second},
		{12 * time.Second, RetryFloor},
		{0, RetryFloor},
		{-time.Hour, RetryFloor}, // expired
		{30 * 24 * time.Hour, BackoffMax},
	} {
		for n := 1; n <= 12; n++ {
			for h := range 20 {
				d := Backoff(Policy{Name: "web", Seed: seed(h)}, n, t0, t0.Add(tc.left))
				if d > tc.bound || d <= 0 {
					t.Fatalf("%s left, failure %d: retry in %s, want in (0, %s]", tc.left, n, d, tc.bound)
				}
			}
		}
	}
}

// TestSeedSpreadsIdenticalHosts is the fleet case: N hosts with one
// config were issued their certs in the same second (same name, same
// NotAfter). With per-host seeds their renewals fall in many distinct
// seconds and their first retries after a shared failure do too; with
// no seed (the old behaviour) they all land in one.
func TestSeedSpreadsIdenticalHosts(t *testing.T) {
	const hosts = 20
	notBefore, notAfter := t0, t0.Add(150*time.Second)
	renew, retry := map[int64]bool{}, map[int64]bool{}
	for h := range hosts {
		p := Policy{Name: "node", Seed: seed(h)}
		at, _ := RenewAt(p, notBefore, notAfter, nil)
		renew[at.Unix()] = true
		retry[t0.Add(Backoff(p, 1, t0, time.Time{})).Unix()] = true
	}
	if len(renew) < hosts/2 || len(retry) < hosts/2 {
		t.Fatalf("%d hosts renew in %d distinct seconds and retry in %d; want at least %d each",
			hosts, len(renew), len(retry), hosts/2)
	}
	unseeded := map[time.Time]bool{}
	for range hosts {
		at, _ := RenewAt(Policy{Name: "node"}, notBefore, notAfter, nil)
		unseeded[at] = true
	}
	if len(unseeded) != 1 {
		t.Fatal("without a seed the jitter should be a function of name and NotAfter only")
	}
}

// TestJitterWindowSpansTenPercent: across hosts, the renewal times of
// one cert cover at least 9% of its lifetime, inside [margin, margin+10%].
func TestJitterWindowSpansTenPercent(t *testing.T) {
	lifetime := 90 * 24 * time.Hour
	var earliest, latest time.Time
	for h := range 400 {
		at, _ := RenewAt(Policy{Name: "web", Seed: seed(h)}, t0, t0.Add(lifetime), nil)
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
		if at.After(latest) {
			latest = at
		}
	}
	if span := latest.Sub(earliest); span < lifetime*9/100 || span > lifetime/10 {
		t.Fatalf("400 hosts renew over %s, want between 9%% and 10%% of %s", span, lifetime)
	}
}

func seed(h int) []byte { return []byte{byte(h >> 8), byte(h), 's', 'e', 'e', 'd'} }

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
		if got := time.Since(due); got < 0 || got > MaxSleep {
			t.Fatalf("renewal noticed %s after due, want within %s", got, MaxSleep)
		}
		for i := 1; i < len(woke); i++ {
			if gap := woke[i].Sub(woke[i-1]); gap > MaxSleep {
				t.Fatalf("timer slept %s, longer than the %s cap", gap, MaxSleep)
			}
		}
	})
}

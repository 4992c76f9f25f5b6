package agent

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Policy is the renewal policy of one cert, resolved from its config.
type Policy struct {
	// Name seeds the deterministic jitter, so certs that were issued
	// together do not all renew in the same instant.
	Name string
	// Seed is the per-install random seed (Store.SpreadSeed). It enters
	// the jitter of renewal times and retries, so hosts that share one
	// config, and were issued their certs in the same second, still renew
	// and retry at different times.
	Seed []byte
	// Before renews this long before NotAfter when non-zero.
	Before time.Duration
	// Fraction renews when this share of the lifetime remains when
	// non-zero (and Before is zero). Zero selects the default: 1/3, or
	// 1/2 for lifetimes of 10 days or less.
	Fraction float64
}

// Backoff limits: the window that failures back off over doubles from
// BackoffMin to BackoffMax; RetryFloor bounds the lifetime-based cap.
const (
	BackoffMin = time.Minute
	BackoffMax = 6 * time.Hour
	// RetryFloor is the least that the remaining-lifetime bound on a retry
	// allows: a retry is at most max(RetryFloor, remaining/4) away.
	RetryFloor = 5 * time.Second
	// MaxSleep caps every timer so a host that slept through a renewal
	// time re-plans from the wall clock within this bound after resuming.
	MaxSleep = time.Hour
	// jitterShare is the largest share of the lifetime by which the
	// renewal time is moved earlier: wide enough that a fleet issued in
	// one second spreads its renewals over many (15 s on a 150 s cert).
	jitterShare = 0.10
	// shortLifetime is the lifetime under which half of it is the default
	// renewal margin (e.g. 6-day ACME "shortlived" certs).
	shortLifetime = 10 * 24 * time.Hour
)

// RenewAt returns when a cert valid from notBefore to notAfter should be
// renewed, and why. With an ARI window, a time inside the window is chosen;
// otherwise the lifetime policy applies. The result depends only on its
// inputs, never on the current time.
func RenewAt(p Policy, notBefore, notAfter time.Time, win *RenewalWindow) (time.Time, string) {
	if win != nil && win.End.After(win.Start) {
		span := win.End.Sub(win.Start)
		at := win.Start.Add(time.Duration(unitFrac(p.Seed, p.Name, "ari", win.Start.Unix()) * float64(span)))
		return at, fmt.Sprintf("inside the ARI window %s – %s", stamp(win.Start), stamp(win.End))
	}
	lifetime := notAfter.Sub(notBefore)
	if lifetime <= 0 {
		return notBefore, "cert has no validity period"
	}
	var margin time.Duration
	var reason string
	switch {
	case p.Before > 0:
		margin = p.Before
		reason = fmt.Sprintf("%s before expiry (renew_before)", p.Before)
	case p.Fraction > 0:
		margin = time.Duration(p.Fraction * float64(lifetime))
		reason = fmt.Sprintf("%.0f%% of the lifetime left (renew_before)", p.Fraction*100)
	case lifetime <= shortLifetime:
		margin = lifetime / 2
		reason = "half of a short lifetime left"
	default:
		margin = lifetime / 3
		reason = "a third of the lifetime left"
	}
	jitter := time.Duration(unitFrac(p.Seed, p.Name, "life", notAfter.Unix()) * jitterShare * float64(lifetime))
	at := notAfter.Add(-margin - jitter)
	if at.Before(notBefore) {
		at = notBefore
	}
	return at, reason
}

// Backoff returns how long to wait after the n-th consecutive failure
// (n >= 1) of a cert that expires at notAfter (zero when there is no cert
// on disk). The window doubles from 1 min to a 6 h cap and, while a cert
// is on disk, is cut to max(RetryFloor, a quarter of its remaining
// lifetime), so a short-lived cert is retried several times before it
// expires once the CA is back. The wait is drawn from the whole window
// (full jitter, at least a second), keyed by the seed, the cert name and
// n: a fleet that failed together does not retry together.
func Backoff(p Policy, n int, now, notAfter time.Time) time.Duration {
	if n < 1 {
		n = 1
	}
	window := BackoffMin
	for i := 1; i < n && window < BackoffMax; i++ {
		window *= 2
	}
	window = min(window, BackoffMax)
	if !notAfter.IsZero() {
		window = min(window, max(RetryFloor, notAfter.Sub(now)/4))
	}
	lo := min(time.Second, window)
	return lo + time.Duration(unitFrac(p.Seed, p.Name, "backoff", int64(n))*float64(window-lo))
}

// Sleep returns how long to wait from now until next, capped at
// MaxSleep and never negative.
func Sleep(now, next time.Time) time.Duration {
	d := next.Sub(now)
	switch {
	case d < 0:
		return 0
	case d > MaxSleep:
		return MaxSleep
	}
	return d
}

// unitFrac maps its inputs to a deterministic value in [0, 1).
func unitFrac(seed []byte, name, salt string, n int64) float64 {
	h := sha256.New()
	h.Write(seed)
	h.Write([]byte{0})
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(salt))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	h.Write(b[:])
	sum := h.Sum(nil)
	return float64(binary.BigEndian.Uint64(sum[:8])>>11) / float64(1<<53)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

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
	// Before renews this long before NotAfter when non-zero.
	Before time.Duration
	// Fraction renews when this share of the lifetime remains when
	// non-zero (and Before is zero). Zero selects the default: 1/3, or
	// 1/2 for lifetimes of 10 days or less.
	Fraction float64
}

// Backoff limits: failures back off exponentially between these.
const (
	BackoffMin = time.Minute
	BackoffMax = 6 * time.Hour
	// MaxSleep caps every timer so a host that slept through a renewal
	// time re-plans from the wall clock within this bound after resuming.
	MaxSleep = time.Hour
	// jitterShare is the largest share of the lifetime by which the
	// renewal time is moved earlier.
	jitterShare = 0.03
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
		at := win.Start.Add(time.Duration(unitFrac(p.Name, "ari", win.Start.Unix()) * float64(span)))
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
	jitter := time.Duration(unitFrac(p.Name, "life", notAfter.Unix()) * jitterShare * float64(lifetime))
	at := notAfter.Add(-margin - jitter)
	if at.Before(notBefore) {
		at = notBefore
	}
	return at, reason
}

// Backoff returns how long to wait after the n-th consecutive failure
// (n >= 1): 1 min doubling to a 6 h cap, with ±10% deterministic jitter so
// a fleet of failing certs does not retry in lockstep.
func Backoff(name string, n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := BackoffMin
	for i := 1; i < n && d < BackoffMax; i++ {
		d *= 2
	}
	if d > BackoffMax {
		d = BackoffMax
	}
	j := (unitFrac(name, "backoff", int64(n))*0.2 - 0.1) * float64(d)
	d += time.Duration(j)
	if d > BackoffMax {
		d = BackoffMax
	}
	return d
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
func unitFrac(name, salt string, n int64) float64 {
	h := sha256.New()
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

package acme

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/pebbletest"
)

// TestARIWindowAndReplaces sets the window through Pebble's management
// API, reads it back with RenewalInfo, then renews with replaces: Pebble
// records the replacement, so a second order replacing the same cert is
// refused as alreadyReplaced, which Issue survives by ordering without.
func TestARIWindowAndReplaces(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	first := mustIssue(t, srv, i, request(t, "ari.example.com"))

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	end := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	if err := srv.SetRenewalInfo(ctx, first.Leaf, start, end); err != nil {
		t.Fatal(err)
	}
	w, err := i.RenewalInfo(ctx, first.Leaf, first.Chain[0])
	if err != nil || w == nil {
		t.Fatalf("RenewalInfo = %v, %v", w, err)
	}
	if !w.Start.Equal(start) || !w.End.Equal(end) {
		t.Fatalf("window %s..%s, want %s..%s", w.Start, w.End, start, end)
	}

	req := request(t, "ari.example.com")
	req.Current = first.Leaf
	mustIssue(t, srv, i, req)
	const replaced = "has been marked as replaced"
	if n := srv.CountLog(replaced); n != 1 {
		t.Fatalf("Pebble marked %d orders replaced, want 1 (replaces not sent?)", n)
	}
	// Replacing first again hits alreadyReplaced; Issue orders without.
	req = request(t, "ari.example.com")
	req.Current = first.Leaf
	mustIssue(t, srv, i, req)
	if n := srv.CountLog(replaced); n != 1 {
		t.Fatalf("Pebble marked %d orders replaced, want still 1", n)
	}
}

// TestARIDisabled returns no window when ari = false.
func TestARIDisabled(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	cfg := issuerConfig(srv)
	off := false
	cfg.ARI = &off
	i := newIssuer(t, cfg, "")
	b := mustIssue(t, srv, i, request(t, "noari.example.com"))
	w, err := i.RenewalInfo(context.Background(), b.Leaf, b.Chain[0])
	if w != nil || err != nil {
		t.Fatalf("RenewalInfo with ari=false = %v, %v", w, err)
	}
}

// TestShortlivedProfile asks for Pebble's 6-day profile.
func TestShortlivedProfile(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	cfg := issuerConfig(srv)
	cfg.Profile = "shortlived"
	b := mustIssue(t, srv, newIssuer(t, cfg, ""), request(t, "short.example.com"))
	life := b.Leaf.NotAfter.Sub(b.Leaf.NotBefore)
	if life < pebbletest.ShortlivedValidity-time.Hour || life > pebbletest.ShortlivedValidity+time.Hour {
		t.Fatalf("lifetime %s, want about %s", life, pebbletest.ShortlivedValidity)
	}
}

// TestNonceRejection90 makes Pebble reject 90% of nonces: the order
// either succeeds after lego's retries or fails with a clear badNonce
// error, within the test timeout (never hangs).
func TestNonceRejection90(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{NonceReject: 90})
	i := newIssuer(t, issuerConfig(srv), "")
	start := time.Now()
	req := request(t, "nonce.example.com")
	b, err := issue(t, i, req)
	t.Logf("after %s: err=%v", time.Since(start).Round(time.Millisecond), err)
	switch {
	case err == nil:
		verifyBundle(t, srv, b, req)
	case !strings.Contains(err.Error(), "badNonce"):
		t.Fatalf("failure does not name the CA's problem: %v", err)
	}
}

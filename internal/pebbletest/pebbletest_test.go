package pebbletest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartServesDirectoryRootsAndDNS checks the harness against the real
// binaries: the directory answers over TLS trusted via CABundle, /roots/0
// gives a self-signed CA, and TXT records set via challtestsrv resolve.
func TestStartServesDirectoryRootsAndDNS(t *testing.T) {
	s := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	roots, err := s.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !roots[0].IsCA || roots[0].CheckSignatureFrom(roots[0]) != nil {
		t.Fatalf("root %s is not a self-signed CA", roots[0].Subject)
	}
	if err := s.SetTXT(ctx, "_acme-challenge.example.test.", "hello"); err != nil {
		t.Fatal(err)
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "udp", s.DNSAddr)
	}}
	txt, err := r.LookupTXT(ctx, "_acme-challenge.example.test")
	if err != nil || len(txt) != 1 || txt[0] != "hello" {
		t.Fatalf("TXT = %q, %v; want [hello]", txt, err)
	}
	if err := s.ClearTXT(ctx, "_acme-challenge.example.test."); err != nil {
		t.Fatal(err)
	}
	if n := s.CountLog(AccountCreatedLog); n != 0 {
		t.Fatalf("fresh Pebble logged %d account creations", n)
	}
	s.Stop()
	if err := s.get(s.DirectoryURL); err == nil {
		t.Fatal("directory still answers after Stop")
	}
}

// TestStopWithStacks: the log of a Pebble stopped for diagnosis holds its
// goroutine stacks.
func TestStopWithStacks(t *testing.T) {
	s := Start(t, Options{})
	out := s.StopWithStacks()
	if !strings.Contains(out, "SIGQUIT") || !strings.Contains(out, "goroutine ") {
		t.Fatalf("no goroutine dump in the log:\n%s", out)
	}
}

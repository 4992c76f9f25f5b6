package store

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// A cert's lock excludes a second taker of it, and is gone, map and all,
// once nobody holds or waits for it.
func TestCertLockExcludesAndIsDropped(t *testing.T) {
	s := newStore(t)
	unlock := s.lockCert("web")
	other := s.lockCert("db") // another cert's lock is not this one
	var got atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		u := s.lockCert("web")
		got.Store(true)
		u()
	}()
	for s.users("web") < 2 { // the goroutine waits for the lock
		runtime.Gosched()
	}
	if got.Load() {
		t.Fatal("a second taker got a held cert lock")
	}
	unlock()
	<-done
	if !got.Load() {
		t.Fatal("the waiter never got the lock")
	}
	other()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.certs != nil {
		t.Fatalf("cert locks kept after release: %v", s.certs)
	}
}

// users is how many hold or wait for cert's lock.
func (s *Store) users(cert string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.certs[cert]; l != nil {
		return l.users
	}
	return 0
}

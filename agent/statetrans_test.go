package agent

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/store"
)

// TestAdoptRecord: a record from another process applies only to the
// serial it describes; a failure brings its count, error and future retry
// time, a recovery clears the failure held here.
func TestAdoptRecord(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(0xabc), NotAfter: now.Add(48 * time.Hour)}
	retry := now.Add(time.Hour)
	failed := CertStatus{Name: "web", Serial: "abc", Failures: 3, LastError: "boom", NextRenewal: retry, RetryAfter: retry}

	s := &certState{leaf: summarize(leaf)}
	if got := s.adopt(CertStatus{Serial: "def", Failures: 2}, now); got != adoptedNothing || s.failures != 0 {
		t.Fatalf("record of another serial: %v, failures %d; want nothing adopted", got, s.failures)
	}
	if got := s.adopt(failed, now); got != adoptedFailure {
		t.Fatalf("adopt = %v, want a failure", got)
	}
	if s.failures != 3 || s.lastErr != "boom" || s.failedSerial != "abc" || !s.retryAt.Equal(retry) || !s.caRetryAt.Equal(retry) {
		t.Fatalf("after adopting a failure: %+v", s)
	}
	if got := s.adopt(CertStatus{Serial: "abc"}, now); got != adoptedRecovery || s.failures != 0 || !s.retryAt.IsZero() || s.lastErr != "" {
		t.Fatalf("recovery: %v, state %+v; want the failure cleared", got, s)
	}
	past := failed
	past.NextRenewal = now.Add(-time.Minute)
	s = &certState{leaf: summarize(leaf)}
	s.adopt(past, now)
	if !s.retryAt.IsZero() {
		t.Errorf("a retry time already past was carried: %s", s.retryAt)
	}
}

// TestDropMootFailure: a failure recorded for one serial is forgotten once
// a valid cert with another serial is on disk, and only then.
func TestDropMootFailure(t *testing.T) {
	old := &x509.Certificate{SerialNumber: big.NewInt(1)}
	s := &certState{leaf: summarize(old)}
	s.recordFailure("boom")
	s.retryAt = time.Now().Add(time.Hour)
	if n := s.dropMootFailure(); n != 0 || s.failures != 1 {
		t.Fatalf("same cert on disk: dropped %d, failures %d; want the failure kept", n, s.failures)
	}
	s.leaf = summarize(&x509.Certificate{SerialNumber: big.NewInt(2)})
	if n := s.dropMootFailure(); n != 1 || s.failures != 0 || !s.retryAt.IsZero() || s.lastErr != "" {
		t.Fatalf("new cert on disk: dropped %d, state %+v; want the failure forgotten", n, s)
	}
}

// TestReadStatusFile: a missing file is fs.ErrNotExist (nothing recorded),
// a damaged one an error naming the file.
func TestReadStatusFile(t *testing.T) {
	dir := t.TempDir()
	_, err := ReadStatusFile(dir)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v, want fs.ErrNotExist", err)
	}
	path := filepath.Join(dir, StatusFileName)
	if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadStatusFile(dir)
	if err == nil || !strings.Contains(err.Error(), path+" is unreadable") {
		t.Fatalf("damaged file: %v, want an error naming %s", err, path)
	}
	// What the store writes (the daemon, a one-shot renew) is what is read.
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WriteStatus([]byte(`{"version":1,"certs":[{"name":"web","failures":2}]}`)); err != nil {
		t.Fatal(err)
	}
	sf, err := ReadStatusFile(dir)
	if err != nil || len(sf.failing()) != 1 || sf.failing()["web"].Failures != 2 {
		t.Fatalf("ReadStatusFile = %+v, %v", sf, err)
	}
}

package agent

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// readFailing gives exactly the failing rows ReadStatusFile's file has,
// whether or not it decodes the file, and its errors.
func TestReadFailing(t *testing.T) {
	dir := t.TempDir()
	write := func(sf StatusFile) {
		t.Helper()
		b, err := json.MarshalIndent(sf, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, StatusFileName), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A name may hold the key's text: it is escaped inside the string.
	ok := CertStatus{Name: `x"failures": 3`, State: StateOK}
	write(StatusFile{Version: 1, Certs: []CertStatus{ok, {Name: "b"}}})
	got, err := readFailing(dir)
	if err != nil || len(got) != 0 {
		t.Fatalf("no failures: %v, %v", got, err)
	}
	for _, n := range []int{1, 12, -1} {
		write(StatusFile{Version: 1, Certs: []CertStatus{ok, {Name: "f", Failures: n, LastError: "boom"}}})
		got, err = readFailing(dir)
		if err != nil {
			t.Fatal(err)
		}
		if r, has := got["f"]; (n > 0) != has || has && (r.Failures != n || r.LastError != "boom") || len(got) > 1 {
			t.Errorf("failures %d: %+v", n, got)
		}
	}
	// Compact JSON too.
	if err := os.WriteFile(filepath.Join(dir, StatusFileName), []byte(`{"certs":[{"name":"f","failures":2}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err = readFailing(dir); err != nil || got["f"].Failures != 2 {
		t.Errorf("compact: %+v, %v", got, err)
	}
	// A truncated file is unreadable, as ReadStatusFile says.
	if err := os.WriteFile(filepath.Join(dir, StatusFileName), []byte(`{"certs":[{"name":"f"`), 0o600); err != nil {
		t.Fatal(err)
	}
	var bad *statusDecodeError
	if _, err = readFailing(dir); !errors.As(err, &bad) {
		t.Errorf("truncated: %v", err)
	}
	if _, err = readFailing(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

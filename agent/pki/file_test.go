package pki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// readWithDeadline runs ReadFileLimited and fails the test if it hangs,
// which is what a blocking open of a FIFO would do.
func readWithDeadline(t *testing.T, path string, max int64) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := ReadFileLimited(path, max)
		done <- result{b, err}
	}()
	select {
	case r := <-done:
		return r.b, r.err
	case <-time.After(30 * time.Second):
		t.Fatalf("ReadFileLimited(%s) blocked", path)
		return nil, nil
	}
}

func TestReadFileLimited(t *testing.T) {
	dir := t.TempDir()
	regular := writeFile(t, dir, "cert.pem", []byte("hello"))
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := writeFile(t, dir, "big.pem", make([]byte, 2<<20))
	linkToRegular := filepath.Join(dir, "link.pem")
	linkToFifo := filepath.Join(dir, "fifolink.pem")
	for target, link := range map[string]string{regular: linkToRegular, fifo: linkToFifo} {
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}

	for _, p := range []string{regular, linkToRegular} {
		b, err := readWithDeadline(t, p, 0)
		if err != nil || string(b) != "hello" {
			t.Fatalf("%s: got %q, %v", p, b, err)
		}
	}
	if b, err := readWithDeadline(t, regular, 5); err != nil || string(b) != "hello" {
		t.Fatalf("file exactly at the limit: %q, %v", b, err)
	}

	cases := []struct {
		name, path string
		max        int64
		want       string
	}{
		{"fifo", fifo, 0, fifo + ": is a named pipe (fifo), not a regular file"},
		{"symlink to fifo", linkToFifo, 0, linkToFifo + ": is a named pipe (fifo), not a regular file"},
		{"directory", dir, 0, dir + ": is a directory, not a regular file"},
		{"char device", "/dev/null", 0, "/dev/null: is a character device, not a regular file"},
		{"2 MiB", big, 0, big + ": file is 2097152 bytes, larger than the 1048576 byte limit (not a pem cert or key)"},
		{"custom limit", regular, 4, regular + ": file is 5 bytes, larger than the 4 byte limit (not a pem cert or key)"},
		{"missing", filepath.Join(dir, "nope.pem"), 0, "stat " + filepath.Join(dir, "nope.pem") + ": no such file or directory"},
	}
	for _, c := range cases {
		_, err := readWithDeadline(t, c.path, c.max)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: error = %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := ReadFileLimited(filepath.Join(dir, "nope.pem"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file must match fs.ErrNotExist, got %v", err)
	}
}

func TestReadFileLimitedUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads mode 0000 files; permission errors cannot be produced as root")
	}
	p := writeFile(t, t.TempDir(), "key.pem", []byte("x"))
	if err := os.Chmod(p, 0); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFileLimited(p, 0)
	if want := "open " + p + ": permission denied"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

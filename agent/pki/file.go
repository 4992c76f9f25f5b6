package pki

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// MaxFileSize is the default limit for ReadFileLimited: PEM certs, chains
// and keys are a few KiB, so anything past 1 MiB is not one of ours.
const MaxFileSize = 1 << 20

// ReadFileLimited reads a cert or key file without trusting what is at
// the path. Symlinks are followed (certbot's live/ links are normal). It
// refuses anything that is not a regular file (a FIFO, device, socket or
// directory) without blocking on it, and any file larger than max bytes
// (MaxFileSize when max <= 0). Errors name the path; a missing file gives
// an error that matches fs.ErrNotExist.
func ReadFileLimited(path string, max int64) ([]byte, error) {
	if max <= 0 {
		max = MaxFileSize
	}
	// Stat first so a device is never opened at all; the fstat below
	// catches a swap between the two calls.
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, max); err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO put there after the Stat must not hang.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, err
	}
	if err := checkRegular(path, fi, max); err != nil {
		return nil, err
	}
	// The file may grow while we read; read one byte past max to see it.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%s: file is larger than the %d byte limit (not a pem cert or key)", path, max)
	}
	return b, nil
}

func checkRegular(path string, fi fs.FileInfo, max int64) error {
	m := fi.Mode()
	if !m.IsRegular() {
		return fmt.Errorf("%s: is a %s, not a regular file", path, describeMode(m))
	}
	if fi.Size() > max {
		return fmt.Errorf("%s: file is %d bytes, larger than the %d byte limit (not a pem cert or key)", path, fi.Size(), max)
	}
	return nil
}

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (fifo)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}

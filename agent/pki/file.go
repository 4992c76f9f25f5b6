package pki

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/certagent/certagent/internal/safefile"
	"golang.org/x/sys/unix"
)

// MaxFileSize is the default limit for ReadFileLimited: PEM certs, chains
// and keys are a few KiB, so anything past 1 MiB is not one of ours.
const MaxFileSize = 1 << 20

// ErrNotCertificate is all a read says about a file certagent would
// refuse to write: one behind a symlink that someone other than root (or
// certagent's user) planted, at the file or anywhere on its path. It
// never says whether the link's target exists or what it holds, so a
// service user cannot use certagent's status, logs or metrics to probe
// root-only files.
var ErrNotCertificate = errors.New("not a certificate")

// ReadFileLimited reads a cert or key file without trusting what is at
// the path. Symlinks are followed only when trusted (owned by root or
// certagent's user, in a directory nobody else can write; certbot's
// live/ links are), and behind a followed final link every directory
// must be trusted too: anything else gives an error wrapping
// ErrNotCertificate that names only path. It refuses anything that is
// not a regular file (a FIFO, device, socket or directory) without
// blocking on it, and any file larger than max bytes (MaxFileSize when
// max <= 0). Errors name the path; a missing file gives an error that
// matches fs.ErrNotExist.
func ReadFileLimited(path string, max int64) ([]byte, error) {
	b, _, err := readFileStamped(path, max)
	return b, err
}

// readFileStamped is ReadFileLimited, with the Stamp of the very file
// read (fstat of the descriptor read, before its first byte).
func readFileStamped(path string, max int64) ([]byte, Stamp, error) {
	if max <= 0 {
		max = MaxFileSize
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, Stamp{}, err
	}
	// The entry is checked before it is opened, so a device is never
	// opened at all; the fstat below catches a swap between the two.
	f, err := safefile.OpenRead(abs, func(st *unix.Stat_t) error {
		return checkRegular(path, statMode(st), st.Size, max)
	})
	switch {
	case errors.Is(err, safefile.ErrUntrusted):
		return nil, Stamp{}, fmt.Errorf("%s: %w", path, ErrNotCertificate)
	case errors.Is(err, fs.ErrNotExist):
		return nil, Stamp{}, &fs.PathError{Op: "stat", Path: path, Err: unix.ENOENT}
	case errors.Is(err, unix.EISDIR):
		return nil, Stamp{}, checkRegular(path, fs.ModeDir, 0, max)
	case err != nil:
		return nil, Stamp{}, renamePath(err, path)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := fstat(f, &st); err != nil {
		return nil, Stamp{}, &fs.PathError{Op: "stat", Path: path, Err: err}
	}
	if err := checkRegular(path, statMode(&st), st.Size, max); err != nil {
		return nil, Stamp{}, err
	}
	// The file may grow while we read; read one byte past max to see it.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, Stamp{}, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	if int64(len(b)) > max {
		return nil, Stamp{}, fmt.Errorf("%s: file is larger than the %d byte limit (not a pem cert or key)", path, max)
	}
	return b, StampOf(&st), nil
}

// renamePath makes a path error name the path the caller gave.
func renamePath(err error, path string) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &fs.PathError{Op: pe.Op, Path: path, Err: pe.Err}
	}
	return err
}

// statMode turns a stat's file type into an fs.FileMode for messages.
func statMode(st *unix.Stat_t) fs.FileMode {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return 0
	case unix.S_IFDIR:
		return fs.ModeDir
	case unix.S_IFIFO:
		return fs.ModeNamedPipe
	case unix.S_IFSOCK:
		return fs.ModeSocket
	case unix.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		return fs.ModeDevice
	case unix.S_IFLNK:
		return fs.ModeSymlink
	}
	return fs.ModeIrregular
}

func checkRegular(path string, m fs.FileMode, size, max int64) error {
	if !m.IsRegular() {
		return fmt.Errorf("%s: is a %s, not a regular file", path, describeMode(m))
	}
	if size > max {
		return fmt.Errorf("%s: file is %d bytes, larger than the %d byte limit (not a pem cert or key)", path, size, max)
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

// fstat stats f's descriptor without f.Fd (which would make it blocking).
func fstat(f *os.File, st *unix.Stat_t) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), st) }); err != nil {
		return err
	}
	return serr
}

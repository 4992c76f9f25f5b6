package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Lstat describes what is at the absolute path without following any
// symlink that is not trusted (Resolve with Follow): a trusted final link
// is described by its target, an untrusted one is an ErrUntrusted error
// that says nothing about where it points. A missing file gives an
// *os.PathError matching fs.ErrNotExist.
func Lstat(path string) (unix.Stat_t, error) {
	var st unix.Stat_t
	d, name, err := Resolve(path, Opts{Follow: true})
	if err != nil {
		return st, err
	}
	defer d.Close()
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, pathErr("stat", path, err)
	}
	return st, nil
}

// OpenRead opens the absolute path for reading the way Lstat resolves
// it, with O_NOFOLLOW and O_NONBLOCK (a FIFO put there cannot block).
// check, if not nil, sees the entry before it is opened and can refuse
// it (say, a device), so such a file is never opened at all. The
// returned file is named path.
func OpenRead(path string, check func(st *unix.Stat_t) error) (*os.File, error) {
	d, name, err := Resolve(path, Opts{Follow: true})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, pathErr("stat", path, err)
	}
	if check != nil {
		if err := check(&st); err != nil {
			return nil, err
		}
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

// RemoveFile unlinks the file at path (made absolute), resolved as by
// Resolve with follow (so with follow a trusted final link's target is
// removed, and without it a symlink there is refused), and fsyncs its
// directory. A missing file is not an error.
func RemoveFile(path string, follow bool) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	d, name, err := Resolve(path, Opts{Follow: follow})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Remove(name)
}

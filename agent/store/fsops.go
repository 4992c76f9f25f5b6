package store

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/certagent/certagent/internal/safefile"
	"golang.org/x/sys/unix"
)

// fsOps is the seam through which tests inject write, fsync and rename
// failures; production uses realOps.
type fsOps struct {
	write    func(f *os.File, b []byte) error
	fsync    func(f *os.File) error
	fsyncDir func(fd int) error
	renameat func(olddirfd int, oldname string, newdirfd int, newname string) error
	// afterChmod runs once a temp file has its final owner and mode and
	// before its first byte is written (a test hook; nil in production).
	afterChmod func(f *os.File)
}

func realOps() fsOps {
	return fsOps{
		write: func(f *os.File, b []byte) error {
			_, err := f.Write(b)
			return err
		},
		fsync:    func(f *os.File) error { return f.Sync() },
		fsyncDir: unix.Fsync,
		renameat: unix.Renameat,
	}
}

// maxPrevious caps the size of a file kept as previous content; anything
// bigger is not a certificate or key we wrote.
const maxPrevious = 4 << 20

func (o *fsOps) sf() *safefile.Ops {
	return &safefile.Ops{Write: o.write, Fsync: o.fsync, FsyncDir: o.fsyncDir,
		Renameat: o.renameat, AfterChmod: o.afterChmod}
}

// createTemp creates name in d with O_EXCL|O_NOFOLLOW, 0600, then sets the
// final owner and mode while it is still empty (safefile.Dir.Create).
func (s *Store) createTemp(d *dirHandle, name string, uid, gid int, mode os.FileMode) (*os.File, error) {
	return d.Create(name, safefile.Perm{Mode: mode, UID: uid, GID: gid}, s.ops.sf())
}

// fillTemp writes data, fsyncs and closes f. The caller unlinks on error.
func (s *Store) fillTemp(f *os.File, data []byte) error {
	return safefile.Fill(f, data, s.ops.sf())
}

// unwrapPath strips an *os.PathError so the path is not named twice.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// existing describes what is at a target before a Commit.
type existing struct {
	present bool // something is there
	regular bool // and it is a regular file
	same    bool // with exactly the wanted bytes
	data    []byte
	st      unix.Stat_t
}

// inspect reads the target without following a symlink and without
// blocking on a FIFO, and compares it with want.
func inspect(t *target, want []byte) (existing, error) {
	var ex existing
	fd, err := unix.Openat(t.dir.fd, t.base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT {
		return ex, nil
	}
	if err != nil {
		return ex, pathErr("open", t.path(), err)
	}
	f := os.NewFile(uintptr(fd), t.path())
	defer f.Close()
	ex.present = true
	if err := unix.Fstat(fd, &ex.st); err != nil {
		return ex, pathErr("stat", t.path(), err)
	}
	if ex.st.Mode&unix.S_IFMT != unix.S_IFREG {
		return ex, nil
	}
	ex.regular = true
	if ex.st.Size > maxPrevious && ex.st.Size != int64(len(want)) {
		return ex, nil
	}
	data, err := io.ReadAll(io.LimitReader(f, ex.st.Size+1))
	if err != nil {
		return ex, pathErr("read", t.path(), unwrapPath(err))
	}
	ex.data = data
	ex.same = bytes.Equal(data, want)
	return ex, nil
}

// fixPerms corrects mode and owner of the regular file at t in place.
// A file with several hard links is refused, but only where a chown or
// chmod would actually be applied: it would also act on whatever the
// other names are (a backup's copy, or a root file the service user
// linked). A correct file with a second link (rsnapshot, cp -l) is fine.
func fixPerms(t *target, f File) (bool, error) {
	fd, err := unix.Openat(t.dir.fd, t.base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, pathErr("open", t.path(), err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, pathErr("stat", t.path(), err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return false, fmt.Errorf("fix permissions of %s: not a regular file", t.path())
	}
	linked := func(what string) error {
		return fmt.Errorf("refusing to %s %s: it has %d hard links, and the change would apply to all of them",
			what, t.path(), st.Nlink)
	}
	changed := false
	if (f.UID >= 0 && int(st.Uid) != f.UID) || (f.GID >= 0 && int(st.Gid) != f.GID) {
		if st.Nlink > 1 {
			return false, linked("change the owner of")
		}
		if err := unix.Fchown(fd, f.UID, f.GID); err != nil {
			return false, pathErr("chown", t.path(), err)
		}
		changed = true
	}
	// Re-read: chown may have cleared set-id bits.
	if err := unix.Fstat(fd, &st); err != nil {
		return changed, pathErr("stat", t.path(), err)
	}
	if st.Mode&0o7777 != uint32(f.Mode.Perm()) {
		if st.Nlink > 1 {
			return changed, linked("change permissions of")
		}
		if err := unix.Fchmod(fd, uint32(f.Mode.Perm())); err != nil {
			return changed, pathErr("chmod", t.path(), err)
		}
		changed = true
	}
	return changed, nil
}

// FixPerms restores f's mode and owner on the existing file at f.Path
// without touching its content, and reports whether anything changed.
func (s *Store) FixPerms(f File) (bool, error) {
	t, err := resolveTarget(f.Path, f.FollowSymlinks, false, 0)
	if err != nil {
		return false, err
	}
	defer t.dir.close()
	changed, err := fixPerms(t, f)
	if changed {
		s.logger.Info("corrected file permissions", "path", f.Path, "mode", fmt.Sprintf("%04o", f.Mode.Perm()))
	}
	return changed, err
}

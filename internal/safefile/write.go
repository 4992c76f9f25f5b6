package safefile

import (
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Perm is the owner and mode a file gets before its first byte.
type Perm struct {
	Mode os.FileMode
	// UID and GID are the owner; -1 keeps the process's own.
	UID, GID int
}

// Private is root-only 0600, owned by this process.
var Private = Perm{Mode: 0o600, UID: -1, GID: -1}

// Ops are the system calls a write goes through. A nil *Ops, or a nil
// field, means the real call; tests inject failures and races here.
// A group commit writes its sets' files on several goroutines, so the
// functions must be safe for concurrent use.
type Ops struct {
	Write    func(f *os.File, b []byte) error
	Fsync    func(f *os.File) error
	FsyncDir func(fd int) error
	Renameat func(olddirfd int, oldname string, newdirfd int, newname string) error
	// AfterChmod runs once a new file has its final owner and mode and
	// before its first byte is written.
	AfterChmod func(f *os.File)
}

func (o *Ops) write(f *os.File, b []byte) error {
	if o != nil && o.Write != nil {
		return o.Write(f, b)
	}
	_, err := f.Write(b)
	return err
}

func (o *Ops) fsync(f *os.File) error {
	if o != nil && o.Fsync != nil {
		return o.Fsync(f)
	}
	return f.Sync()
}

func (o *Ops) fsyncDir(fd int) error {
	if o != nil && o.FsyncDir != nil {
		return o.FsyncDir(fd)
	}
	return unix.Fsync(fd)
}

func (o *Ops) renameat(od int, on string, nd int, nn string) error {
	if o != nil && o.Renameat != nil {
		return o.Renameat(od, on, nd, nn)
	}
	return unix.Renameat(od, on, nd, nn)
}

// Create makes name in d with O_EXCL|O_NOFOLLOW, 0600, then sets p's
// owner and mode while it is still empty, so no byte is ever readable
// by anyone p does not allow. On error nothing is left behind.
func (d *Dir) Create(name string, p Perm, ops *Ops) (*os.File, error) {
	full := d.Join(name)
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, pathErr("create", full, err)
	}
	f := os.NewFile(uintptr(fd), full)
	fail := func(op string, err error) (*os.File, error) {
		_ = f.Close()
		_ = unix.Unlinkat(d.fd, name, 0)
		return nil, pathErr(op, full, err)
	}
	if p.UID >= 0 || p.GID >= 0 {
		// Chown before chmod: chown may clear set-id bits.
		if err := unix.Fchown(fd, p.UID, p.GID); err != nil {
			return fail("chown", err)
		}
	}
	if err := unix.Fchmod(fd, uint32(p.Mode.Perm())); err != nil {
		return fail("chmod", err)
	}
	if ops != nil && ops.AfterChmod != nil {
		ops.AfterChmod(f)
	}
	return f, nil
}

// Fill writes data to f, fsyncs and closes it. The caller removes the
// file on error.
func Fill(f *os.File, data []byte, ops *Ops) error {
	if err := ops.write(f, data); err != nil {
		_ = f.Close()
		return pathErr("write", f.Name(), unwrapPath(err))
	}
	if err := ops.fsync(f); err != nil {
		_ = f.Close()
		return pathErr("fsync", f.Name(), unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return pathErr("close", f.Name(), unwrapPath(err))
	}
	return nil
}

// WriteNew creates name in d (see Create) holding data, fsynced. On
// error the file is removed.
func (d *Dir) WriteNew(name string, data []byte, p Perm, ops *Ops) error {
	f, err := d.Create(name, p, ops)
	if err != nil {
		return err
	}
	if err := Fill(f, data, ops); err != nil {
		_ = unix.Unlinkat(d.fd, name, 0)
		return err
	}
	return nil
}

// Replace atomically replaces d/name with data: a temp file named by
// TempName gets p before its first byte, is written and fsynced, renamed
// over name (which replaces a directory entry and never writes through
// an existing inode, so a planted link there is replaced, not followed),
// and d is fsynced.
func (d *Dir) Replace(name string, data []byte, p Perm, ops *Ops) error {
	tmp := TempName(name)
	if err := d.WriteNew(tmp, data, p, ops); err != nil {
		return err
	}
	if err := ops.renameat(d.fd, tmp, d.fd, name); err != nil {
		_ = unix.Unlinkat(d.fd, tmp, 0)
		return pathErr("rename", d.Join(name), err)
	}
	return d.Sync(ops)
}

// Sync fsyncs the directory, making renames and unlinks in it durable.
func (d *Dir) Sync(ops *Ops) error {
	if err := ops.fsyncDir(d.fd); err != nil {
		return pathErr("fsync", d.path, err)
	}
	return nil
}

// Remove unlinks name from d and fsyncs d. A missing name is not an error.
func (d *Dir) Remove(name string) error {
	err := unix.Unlinkat(d.fd, name, 0)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return pathErr("remove", d.Join(name), err)
	}
	return d.Sync(nil)
}

// WriteFile atomically replaces the file at the absolute path with data
// (see Replace), walking to its directory with OpenDir; the directory
// must exist. Meant for certagent's own state files.
func WriteFile(path string, data []byte, p Perm) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	d, err := OpenDir(filepath.Dir(path), false, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(filepath.Base(path), data, p, nil)
}

// unwrapPath strips an *os.PathError so the path is not named twice.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

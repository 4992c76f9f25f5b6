package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Output paths are resolved by walking from "/" one component at a time
// with openat(O_DIRECTORY|O_NOFOLLOW), keeping a descriptor of the
// directory reached, and then doing every later operation (create temp,
// read, rename, fsync) relative to that descriptor with *at syscalls.
// Swapping a directory of the chain for a symlink after the walk
// therefore cannot redirect a write: we keep working on the inode we
// walked to. During the walk a symlink is followed only when it is
// trusted (see trustedLink); anything else is refused with ELOOP.

const maxSymlinkHops = 40

// dirHandle is an open directory and the symlink-free path it was reached by.
type dirHandle struct {
	fd   int
	path string
}

func (d *dirHandle) close() {
	if d != nil && d.fd >= 0 {
		_ = unix.Close(d.fd)
		d.fd = -1
	}
}

// join names an entry of d for messages and the journal.
func (d *dirHandle) join(name string) string { return filepath.Join(d.path, name) }

func pathErr(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}

// openDir opens the absolute directory p. Missing components are created
// with mode (exactly, umask ignored) and fsynced into their parent when
// create is true.
func openDir(p string, create bool, mode os.FileMode) (*dirHandle, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("path %q is not absolute", p)
	}
	p = filepath.Clean(p)
	for hops := 0; ; hops++ {
		if hops > maxSymlinkHops {
			return nil, pathErr("open", p, unix.ELOOP)
		}
		d, next, err := walk(p, create, mode)
		if err != nil || next == "" {
			return d, err
		}
		p = next
	}
}

// walk opens p component by component. When it meets a trusted symlink it
// returns the rewritten path to restart from in next.
func walk(p string, create bool, mode os.FileMode) (d *dirHandle, next string, err error) {
	fd, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", pathErr("open", "/", err)
	}
	cur := "/"
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, c := range comps {
		if c == "" || c == "." {
			continue
		}
		nfd, err := openComponent(fd, cur, c, create, mode)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			target, lerr := followLink(fd, cur, c)
			_ = unix.Close(fd)
			if lerr != nil {
				return nil, "", lerr
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(cur, target)
			}
			rest := strings.Join(comps[i+1:], "/")
			return nil, filepath.Join(target, rest), nil
		}
		_ = unix.Close(fd)
		if err != nil {
			return nil, "", err
		}
		fd, cur = nfd, filepath.Join(cur, c)
	}
	return &dirHandle{fd: fd, path: cur}, "", nil
}

func openComponent(fd int, cur, c string, create bool, mode os.FileMode) (int, error) {
	const flags = unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW
	full := filepath.Join(cur, c)
	nfd, err := unix.Openat(fd, c, flags, 0)
	if err == nil {
		return nfd, nil
	}
	if err != unix.ENOENT || !create {
		return -1, pathErr("open", full, err)
	}
	if err := unix.Mkdirat(fd, c, 0o700); err != nil && err != unix.EEXIST {
		return -1, pathErr("mkdir", full, err)
	}
	nfd, err = unix.Openat(fd, c, flags, 0)
	if err != nil {
		return -1, pathErr("open", full, err)
	}
	if err := unix.Fchmod(nfd, uint32(mode.Perm())); err != nil {
		_ = unix.Close(nfd)
		return -1, pathErr("chmod", full, err)
	}
	if err := unix.Fsync(fd); err != nil {
		_ = unix.Close(nfd)
		return -1, pathErr("fsync", cur, err)
	}
	return nfd, nil
}

// followLink reads the symlink c in directory fd if it is trusted.
func followLink(fd int, cur, c string) (string, error) {
	full := filepath.Join(cur, c)
	var st unix.Stat_t
	if err := unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", pathErr("lstat", full, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", pathErr("open", full, unix.ENOTDIR)
	}
	if err := trustedLink(fd, &st); err != nil {
		return "", fmt.Errorf("refusing to follow symlink %s: %w", full, err)
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, c, buf)
	if err != nil {
		return "", pathErr("readlink", full, err)
	}
	return string(buf[:n]), nil
}

// trustedLink accepts a symlink in the directory chain only if nobody but
// root or us could have planted or replaced it: the link is owned by root
// or our euid, and its directory is owned by root or our euid and is not
// writable by group/others unless sticky (then only the owner of an entry
// may replace it). This mirrors the kernel's protected_symlinks rule and
// sshd's StrictModes, so /var/run -> /run works while a link planted by a
// service user in its own output directory is refused.
func trustedLink(dirfd int, link *unix.Stat_t) error {
	var dst unix.Stat_t
	if err := unix.Fstat(dirfd, &dst); err != nil {
		return err
	}
	euid := uint32(os.Geteuid())
	trusted := func(uid uint32) bool { return uid == 0 || uid == euid }
	switch {
	case !trusted(link.Uid):
		return fmt.Errorf("link owned by uid %d (only root or uid %d is trusted): %w", link.Uid, euid, unix.ELOOP)
	case !trusted(dst.Uid):
		return fmt.Errorf("its directory is owned by uid %d: %w", dst.Uid, unix.ELOOP)
	case dst.Mode&0o022 != 0 && dst.Mode&unix.S_ISVTX == 0:
		return fmt.Errorf("its directory is writable by group or others: %w", unix.ELOOP)
	}
	return nil
}

// target is a resolved output file: an open parent directory and a name in it.
type target struct {
	dir  *dirHandle
	base string
}

func (t *target) path() string { return t.dir.join(t.base) }

// resolveTarget opens the parent of path (creating it with dirMode) and
// checks the final component: a symlink is refused unless follow is set,
// in which case its target is resolved the same way. A directory is
// refused. A missing file is fine.
func resolveTarget(path string, follow, create bool, dirMode os.FileMode) (*target, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("path %q is not absolute", path)
	}
	if dirMode == 0 {
		dirMode = 0o755
	}
	p := filepath.Clean(path)
	for hops := 0; hops <= maxSymlinkHops; hops++ {
		d, err := openDir(filepath.Dir(p), create, dirMode)
		if err != nil {
			return nil, err
		}
		t := &target{dir: d, base: filepath.Base(p)}
		var st unix.Stat_t
		err = unix.Fstatat(d.fd, t.base, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == unix.ENOENT:
			return t, nil
		case err != nil:
			d.close()
			return nil, pathErr("lstat", t.path(), err)
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			d.close()
			return nil, pathErr("write", t.path(), unix.EISDIR)
		case st.Mode&unix.S_IFMT != unix.S_IFLNK:
			return t, nil
		case !follow:
			d.close()
			return nil, fmt.Errorf("refusing to write %s: it is a symlink (set follow_symlinks = true to write the file it points to): %w",
				t.path(), unix.ELOOP)
		}
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(d.fd, t.base, buf)
		d.close()
		if err != nil {
			return nil, pathErr("readlink", t.path(), err)
		}
		next := string(buf[:n])
		if !filepath.IsAbs(next) {
			next = filepath.Join(d.path, next)
		}
		p = filepath.Clean(next)
	}
	return nil, pathErr("open", path, unix.ELOOP)
}

// Package safefile is certagent's one way to touch a file as root in a
// directory someone else may own: walk a path from "/" one component at a
// time without following a symlink nobody trusted, keep the directory
// descriptor reached, and then create, replace, read or remove relative
// to it with *at system calls and O_NOFOLLOW.
//
// Swapping a directory of the chain for a symlink after the walk cannot
// redirect anything: the caller keeps working on the inode it walked to.
// During the walk a symlink is followed only when it is trusted (see
// trustedLink); anything else is refused with an error wrapping both
// ErrUntrusted and ELOOP. The output store, the ACME account and webroot
// writers, the local CA, inspection and remove_key_after_start all go
// through here, and every temp name they create is one IsTemp recognises.
package safefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUntrusted marks a refusal to follow a symlink (or to enter a
// directory behind a followed final link) that someone other than root or
// this process could have planted or replaced.
var ErrUntrusted = errors.New("untrusted path")

const maxSymlinkHops = 40

// Dir is an open directory and the symlink-free path it was reached by.
type Dir struct {
	fd   int
	path string
}

// Fd is the directory's descriptor, valid until Close.
func (d *Dir) Fd() int { return d.fd }

// Path is the symlink-free path the directory was reached by.
func (d *Dir) Path() string { return d.path }

// Join names an entry of d for messages and journals.
func (d *Dir) Join(name string) string { return filepath.Join(d.path, name) }

// Close releases the descriptor; calling it twice (or on nil) is fine.
func (d *Dir) Close() {
	if d != nil && d.fd >= 0 {
		_ = unix.Close(d.fd)
		d.fd = -1
	}
}

func pathErr(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}

// untrusted wraps a refusal so callers can tell it apart by errors.Is
// (ErrUntrusted) and by errno (ELOOP), as before this package existed.
type untrusted struct{ msg string }

func (u *untrusted) Error() string { return u.msg }
func (u *untrusted) Is(target error) bool {
	return target == ErrUntrusted || target == unix.ELOOP
}

func refuse(format string, a ...any) error { return &untrusted{msg: fmt.Sprintf(format, a...)} }

// OpenDir opens the absolute directory p. Missing components are created
// with mode (exactly, umask ignored) and fsynced into their parent when
// create is true. Only trusted symlinks are followed.
func OpenDir(p string, create bool, mode os.FileMode) (*Dir, error) {
	return openDir(p, walkOpts{create: create, mode: mode})
}

type walkOpts struct {
	create bool
	mode   os.FileMode
	// strict requires every directory of the walk to be trusted too:
	// set once a final symlink has been followed (see Resolve).
	strict bool
}

func openDir(p string, o walkOpts) (*Dir, error) {
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("path %q is not absolute", p)
	}
	p = filepath.Clean(p)
	for hops := 0; ; hops++ {
		if hops > maxSymlinkHops {
			return nil, pathErr("open", p, unix.ELOOP)
		}
		d, next, err := walk(p, o)
		if err != nil || next == "" {
			return d, err
		}
		p = next
	}
}

// walk opens p component by component. When it meets a trusted symlink it
// returns the rewritten path to restart from in next.
func walk(p string, o walkOpts) (d *Dir, next string, err error) {
	fd, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", pathErr("open", "/", err)
	}
	cur := "/"
	if err := checkStrict(fd, cur, o.strict); err != nil {
		_ = unix.Close(fd)
		return nil, "", err
	}
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i, c := range comps {
		if c == "" || c == "." {
			continue
		}
		nfd, err := openComponent(fd, cur, c, o)
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
		if err := checkStrict(fd, cur, o.strict); err != nil {
			_ = unix.Close(fd)
			return nil, "", err
		}
	}
	return &Dir{fd: fd, path: cur}, "", nil
}

func openComponent(fd int, cur, c string, o walkOpts) (int, error) {
	const flags = unix.O_DIRECTORY | unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW
	full := filepath.Join(cur, c)
	nfd, err := unix.Openat(fd, c, flags, 0)
	if err == nil {
		return nfd, nil
	}
	if err != unix.ENOENT || !o.create {
		return -1, pathErr("open", full, err)
	}
	if err := unix.Mkdirat(fd, c, 0o700); err != nil && err != unix.EEXIST {
		return -1, pathErr("mkdir", full, err)
	}
	nfd, err = unix.Openat(fd, c, flags, 0)
	if err != nil {
		return -1, pathErr("open", full, err)
	}
	if err := unix.Fchmod(nfd, uint32(o.mode.Perm())); err != nil {
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
		return "", refuse("refusing to follow symlink %s: %v", full, err)
	}
	return readLink(fd, c, full)
}

func readLink(fd int, c, full string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(fd, c, buf)
	if err != nil {
		return "", pathErr("readlink", full, err)
	}
	return string(buf[:n]), nil
}

// trusted reports whether uid is root or the user this process runs as.
func trusted(uid uint32) bool { return uid == 0 || uid == uint32(os.Geteuid()) }

// trustedLink accepts a symlink only if nobody but root or us could have
// planted or replaced it: the link is owned by root or our euid, and its
// directory is owned by root or our euid and is not writable by
// group/others unless sticky (then only the owner of an entry may
// replace it). This mirrors the kernel's protected_symlinks rule and
// sshd's StrictModes, so /var/run -> /run works while a link planted by a
// service user in its own output directory is refused.
func trustedLink(dirfd int, link *unix.Stat_t) error {
	if !trusted(link.Uid) {
		return fmt.Errorf("link owned by uid %d (only root or uid %d is trusted)", link.Uid, os.Geteuid())
	}
	var dst unix.Stat_t
	if err := unix.Fstat(dirfd, &dst); err != nil {
		return err
	}
	if err := trustedDir(&dst); err != nil {
		return fmt.Errorf("its directory %v", err)
	}
	return nil
}

// trustedDir is the directory half of trustedLink.
func trustedDir(st *unix.Stat_t) error {
	switch {
	case !trusted(st.Uid):
		return fmt.Errorf("is owned by uid %d", st.Uid)
	case st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0:
		return errors.New("is writable by group or others")
	}
	return nil
}

// checkStrict refuses, in strict mode, a directory someone else could
// change: behind a followed final link every directory must be trusted.
func checkStrict(fd int, path string, strict bool) error {
	if !strict {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return pathErr("stat", path, err)
	}
	if err := trustedDir(&st); err != nil {
		return refuse("refusing symlink target: directory %s %v", path, err)
	}
	return nil
}

package safefile

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Temp names are ".<base>.certagent-<16 hex>.tmp": the leading dot hides
// them, the marker lets operators (and Recover) recognise them. Every
// temp file or directory certagent creates is named by TempName, so
// IsTemp names them all.
const (
	tempMarker = ".certagent-"
	tempSuffix = ".tmp"
)

// TempName returns a fresh temp name for a file or directory next to
// base (base is cut to 100 bytes so the name fits NAME_MAX).
func TempName(base string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	if len(base) > 100 {
		base = base[:100]
	}
	return "." + base + tempMarker + hex.EncodeToString(b[:]) + tempSuffix
}

// IsTemp reports whether name is a name TempName could have returned.
func IsTemp(name string) bool {
	if !strings.HasPrefix(name, ".") || !strings.HasSuffix(name, tempSuffix) || strings.ContainsAny(name, "/\x00") {
		return false
	}
	i := strings.LastIndex(name, tempMarker)
	if i < 1 {
		return false
	}
	h := name[i+len(tempMarker) : len(name)-len(tempSuffix)]
	if len(h) != 16 {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

// legacyTemp matches the temp names of releases before this package
// (os.CreateTemp's ".<base>.tmp-<digits>" and the local CA's
// ".<dir>.new-<digits>"), so an upgrade sweeps a crash's leftovers too.
func legacyTemp(name string) bool {
	if !strings.HasPrefix(name, ".") {
		return false
	}
	for _, m := range []string{".tmp-", ".new-"} {
		i := strings.LastIndex(name, m)
		if i < 1 {
			continue
		}
		digits := name[i+len(m):]
		if digits != "" && strings.Trim(digits, "0123456789") == "" {
			return true
		}
	}
	return false
}

// Sweep deletes every temp file and temp directory (IsTemp, or a legacy
// temp name) in the trusted directory dir and its subdirectories down to
// depth levels, never following a symlink, and returns what it removed.
// Only for certagent's own state directory, with its lock held: a temp
// there belongs to a write that died.
func Sweep(dir string, depth int) []string {
	d, err := OpenDir(dir, false, 0)
	if err != nil {
		return nil
	}
	defer d.Close()
	return d.sweep(depth)
}

func (d *Dir) sweep(depth int) []string {
	var removed []string
	names := d.names()
	for _, n := range names {
		var st unix.Stat_t
		if unix.Fstatat(d.fd, n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case IsTemp(n) || legacyTemp(n):
			if removeAllAt(d.fd, n, isDir, 4) == nil {
				removed = append(removed, d.Join(n))
			}
		case isDir && depth > 0:
			fd, err := unix.Openat(d.fd, n, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				continue
			}
			sub := &Dir{fd: fd, path: d.Join(n)}
			removed = append(removed, sub.sweep(depth-1)...)
			sub.Close()
		}
	}
	if len(removed) > 0 {
		_ = d.Sync(nil)
	}
	return removed
}

// names lists d's entries without moving d's own descriptor.
func (d *Dir) names() []string {
	fd, err := unix.Openat(d.fd, ".", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return names
}

// removeAllAt unlinks name in dirfd, emptying it first if it is a
// directory (to depth levels; a temp directory holds plain files).
func removeAllAt(dirfd int, name string, isDir bool, depth int) error {
	if !isDir {
		return unix.Unlinkat(dirfd, name, 0)
	}
	fd, err := unix.Openat(dirfd, name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	sub := &Dir{fd: fd, path: name}
	for _, n := range sub.names() {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			continue
		}
		sdir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if sdir && depth == 0 {
			continue
		}
		_ = removeAllAt(fd, n, sdir, depth-1)
	}
	sub.Close()
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

// RemoveAll removes name from d, emptying it first if it is a directory
// (a temp directory: plain files, a few levels at most). It never follows
// a symlink; a missing name is not an error.
func (d *Dir) RemoveAll(name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return pathErr("lstat", d.Join(name), err)
	}
	if err := removeAllAt(d.fd, name, st.Mode&unix.S_IFMT == unix.S_IFDIR, 4); err != nil {
		return pathErr("remove", d.Join(name), err)
	}
	return nil
}

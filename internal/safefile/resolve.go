package safefile

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Opts says how Resolve treats a path.
type Opts struct {
	// Follow allows the final component to be a symlink. It is followed
	// only if trusted (as links higher up always are), and then every
	// directory and link on its target's path must be trusted too:
	// owned by root or this process's euid and not writable by group or
	// others unless sticky. A link anyone else planted is refused.
	Follow bool
	// Create makes missing parent directories with DirMode (0 = 0755).
	Create  bool
	DirMode os.FileMode
}

// Resolve opens the parent of the absolute path and checks its final
// component: a directory is refused; a symlink is refused unless
// o.Follow allows it (see Opts.Follow), in which case its target is
// resolved the same way. A missing final component is fine. It returns
// the open parent and the name in it; the caller closes the Dir.
func Resolve(path string, o Opts) (*Dir, string, error) {
	if !filepath.IsAbs(path) {
		return nil, "", fmt.Errorf("path %q is not absolute", path)
	}
	w := walkOpts{create: o.Create, mode: o.DirMode}
	if w.mode == 0 {
		w.mode = 0o755
	}
	p := filepath.Clean(path)
	for hops := 0; hops <= maxSymlinkHops; hops++ {
		d, err := openDir(filepath.Dir(p), w)
		if err != nil {
			return nil, "", err
		}
		base := filepath.Base(p)
		var st unix.Stat_t
		err = unix.Fstatat(d.fd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == unix.ENOENT:
			return d, base, nil
		case err != nil:
			d.Close()
			return nil, "", pathErr("lstat", d.Join(base), err)
		case st.Mode&unix.S_IFMT == unix.S_IFDIR:
			d.Close()
			return nil, "", pathErr("write", d.Join(base), unix.EISDIR)
		case st.Mode&unix.S_IFMT != unix.S_IFLNK:
			return d, base, nil
		case !o.Follow:
			d.Close()
			return nil, "", refuse("refusing to write %s: it is a symlink (set follow_symlinks = true to write the file it points to)", d.Join(base))
		}
		next, err := trustedTarget(d, base, &st)
		d.Close()
		if err != nil {
			return nil, "", err
		}
		p, w.strict = next, true
	}
	return nil, "", pathErr("open", path, unix.ELOOP)
}

// trustedTarget returns where the final symlink base in d points, if the
// link itself is trusted.
func trustedTarget(d *Dir, base string, st *unix.Stat_t) (string, error) {
	if err := trustedLink(d.fd, st); err != nil {
		return "", refuse("refusing to follow symlink %s: %v", d.Join(base), err)
	}
	next, err := readLink(d.fd, base, d.Join(base))
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(next) {
		next = filepath.Join(d.path, next)
	}
	return filepath.Clean(next), nil
}

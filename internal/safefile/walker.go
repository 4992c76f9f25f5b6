package safefile

import (
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Walker is Lstat for many files in few directories, as one inspection
// pass over thousands of certs sharing an output directory asks: each
// directory is walked from "/" once (the same walk as Lstat's, by the
// same trust rules) and its descriptor kept, and each file is then one
// fstatat relative to it. A final component that is a symlink is handed
// to Lstat, so a trusted link is followed and an untrusted one refused
// exactly as there.
//
// A kept descriptor names the directory inode the walk reached, as every
// safefile caller does between its walk and its *at calls; a Walker only
// keeps it longer, so its owner must be short-lived (one pass) and Close
// it. A directory renamed meanwhile is still the one stat'ed: the next
// Walker walks again. Lstat is safe for concurrent use; Close only once
// no Lstat is running.
type Walker struct {
	mu   sync.Mutex
	dirs map[string]*walkedDir
}

// walkedDir is one directory's walk: its descriptor, or the error that
// makes Lstat the judge of every file in it.
type walkedDir struct {
	once sync.Once
	d    *Dir
	err  error
}

// NewWalker returns an empty Walker.
func NewWalker() *Walker { return &Walker{dirs: map[string]*walkedDir{}} }

// Lstat is the package's Lstat, with the directory walk shared. A nil
// Walker shares nothing: it is the package's Lstat.
func (w *Walker) Lstat(path string) (unix.Stat_t, error) {
	if w == nil || !filepath.IsAbs(path) {
		return Lstat(path) // its error
	}
	p := filepath.Clean(path)
	wd := w.dir(filepath.Dir(p))
	if wd.err != nil {
		return unix.Stat_t{}, wd.err // what Lstat's own walk of the directory says
	}
	var st unix.Stat_t
	err := unix.Fstatat(wd.d.fd, filepath.Base(p), &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == unix.ENOENT:
		return st, pathErr("stat", path, err)
	case err != nil, st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return Lstat(path) // a final link: followed only if trusted
	}
	return st, nil
}

func (w *Walker) dir(p string) *walkedDir {
	w.mu.Lock()
	wd := w.dirs[p]
	if wd == nil {
		wd = &walkedDir{}
		w.dirs[p] = wd
	}
	w.mu.Unlock()
	wd.once.Do(func() { wd.d, wd.err = openDir(p, walkOpts{}) })
	return wd
}

// Close releases every directory descriptor; the Walker stays usable
// (it walks again).
func (w *Walker) Close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wd := range w.dirs {
		wd.once.Do(func() {})
		wd.d.Close()
	}
	w.dirs = map[string]*walkedDir{}
}

// Resolve is the package's Resolve with the directory walk shared, as a
// batch of writes into few directories asks: when the walk of path's
// directory succeeded and its final component is missing or a regular
// file, the Dir returned holds a descriptor of its own (a duplicate of
// the kept one), which the caller closes. Everything else (a directory
// still to create, a final symlink or directory, a walk error) goes to
// Resolve, which judges it exactly as without a Walker. A walk that
// creates nothing is the same walk as one that may create (create only
// acts on a missing component), so o.Create and o.DirMode need not key
// the kept directories. A nil Walker shares nothing: it is Resolve.
func (w *Walker) Resolve(path string, o Opts) (*Dir, string, error) {
	if w == nil || !filepath.IsAbs(path) {
		return Resolve(path, o) // its error
	}
	p := filepath.Clean(path)
	wd := w.dir(filepath.Dir(p))
	if wd.err != nil {
		return Resolve(path, o)
	}
	base := filepath.Base(p)
	var st unix.Stat_t
	err := unix.Fstatat(wd.d.fd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if (err != nil && err != unix.ENOENT) || (err == nil && st.Mode&unix.S_IFMT != unix.S_IFREG) {
		return Resolve(path, o)
	}
	fd, err := unix.FcntlInt(uintptr(wd.d.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return Resolve(path, o)
	}
	return &Dir{fd: fd, path: wd.d.path}, base, nil
}

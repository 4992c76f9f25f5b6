// Package trust is certagent's one rule for files it reads or runs as
// root: config files, credential files, template sources, hook programs
// and the scripts their interpreters run. A file is trusted when it, every
// directory on its path, and every symbolic link met on the way (and every
// directory and link on each link's target path) is owned by root or by
// the user certagent runs as, and nothing but a root-owned sticky
// directory (such as /tmp) is writable by group or others. Whoever could
// write any of these could swap what root reads, as sshd's StrictModes
// and sudo reason.
package trust

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// maxLinks bounds the links followed while resolving one path, like the
// kernel's ELOOP limit.
const maxLinks = 40

// Error says which file, directory or link broke the rule and how to fix it.
type Error struct {
	// Path is the object that failed the rule.
	Path string
	// Msg is the complete message, e.g. "directory /srv is owned by uid
	// 1000, not root".
	Msg string
	// Fix is a command or step that repairs it.
	Fix string
	// Err is the underlying system error, if any (fs.ErrNotExist for a
	// missing file).
	Err error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the system error, so errors.Is(err, fs.ErrNotExist) works.
func (e *Error) Unwrap() error { return e.Err }

// Checked is what the walk found at the end of a trusted path.
type Checked struct {
	// Path is the fully resolved path: absolute, with no symbolic link in it.
	Path string
	// Info is the Lstat of Path at the time of the check.
	Info os.FileInfo
}

// CheckPath applies the rule to path, which must name an existing
// regular file, and returns the resolved target.
func CheckPath(path string) (Checked, error) {
	c, err := resolve(path)
	if err != nil {
		return c, err
	}
	if !c.Info.Mode().IsRegular() {
		return c, &Error{Path: c.Path, Msg: fmt.Sprintf("%s is not a regular file", c.Path), Fix: "point it at a regular file"}
	}
	return c, nil
}

// CheckDir applies the rule to an existing directory and every directory
// and link on its path.
func CheckDir(dir string) (Checked, error) {
	c, err := resolve(dir)
	if err != nil {
		return c, err
	}
	if !c.Info.IsDir() {
		return c, &Error{Path: c.Path, Msg: fmt.Sprintf("%s is not a directory", c.Path), Fix: "point it at a directory"}
	}
	return c, nil
}

// OpenTrusted checks path as CheckPath does, then opens the resolved
// path without following a final link and without blocking on a FIFO,
// and makes sure the opened file is the one checked (same device, inode,
// owner and mode). Only root can change a trusted directory, so no one
// else can swap an entry between the check and the open.
func OpenTrusted(path string) (*os.File, error) {
	c, err := CheckPath(path)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(c.Path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &Error{Path: c.Path, Msg: fmt.Sprintf("cannot open %s: %v", c.Path, unwrap(err)), Fix: "make it readable by root", Err: err}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: c.Path, Msg: fmt.Sprintf("cannot stat %s: %v", c.Path, unwrap(err)), Fix: "make it readable by root", Err: err}
	}
	if !sameFile(c.Info, fi) {
		f.Close()
		return nil, &Error{Path: c.Path, Msg: fmt.Sprintf("%s changed while it was checked", c.Path), Fix: "find out who replaces it"}
	}
	return f, nil
}

// SameFile reports whether fi (e.g. an fstat of an opened file) is the
// file c describes, with the same owner and mode.
func (c Checked) SameFile(fi os.FileInfo) bool { return sameFile(c.Info, fi) }

func sameFile(a, b os.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	return ok1 && ok2 && sa.Dev == sb.Dev && sa.Ino == sb.Ino && sa.Uid == sb.Uid && sa.Mode == sb.Mode
}

// resolve walks path one name at a time from /, checking each directory,
// following and checking each link, and checks the final object.
func resolve(path string) (Checked, error) {
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return Checked{}, &Error{Path: path, Msg: fmt.Sprintf("cannot resolve %s: %v", path, err), Fix: "use an absolute path", Err: err}
		}
		path = abs
	}
	root, err := os.Lstat("/")
	if err != nil {
		return Checked{}, statErr("/", err)
	}
	if e := checkDir("/", root, ""); e != nil {
		return Checked{}, e
	}
	w := &walker{path: path, root: root, cur: "/", info: root, rest: splitNames(path)}
	for len(w.rest) > 0 {
		name := w.rest[0]
		w.rest = w.rest[1:]
		if final, err := w.step(name); err != nil || final != nil {
			if err != nil {
				return Checked{}, err
			}
			return *final, nil
		}
	}
	return Checked{Path: w.cur, Info: w.info}, nil
}

// walker is one resolution in progress: cur is a checked directory with
// no link in its path; rest are the names still to walk.
type walker struct {
	path  string      // what was asked, for messages
	root  os.FileInfo // Lstat of /
	cur   string
	info  os.FileInfo // Lstat of cur
	rest  []string
	via   string // the first link followed, for messages
	links int
}

// step walks one name; it returns the result when name is the final,
// non-directory object.
func (w *walker) step(name string) (*Checked, error) {
	switch name {
	case "", ".":
		return nil, nil
	case "..":
		w.cur = filepath.Dir(w.cur) // cur holds no link, so this is the real parent
		info, err := os.Lstat(w.cur)
		if err != nil {
			return nil, statErr(w.cur, err)
		}
		w.info = info
		return nil, nil
	}
	if !w.info.IsDir() {
		return nil, &Error{Path: w.cur, Msg: fmt.Sprintf("%s is not a directory", w.cur), Fix: "correct the path", Err: syscall.ENOTDIR}
	}
	next := filepath.Join(w.cur, name)
	fi, err := os.Lstat(next)
	if err != nil {
		return nil, statErr(next, err)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, w.follow(next, fi)
	case fi.IsDir():
		if e := checkDir(next, fi, w.via); e != nil {
			return nil, e
		}
		w.cur, w.info = next, fi
		return nil, nil
	}
	if !onlyDots(w.rest) {
		return nil, &Error{Path: next, Msg: fmt.Sprintf("%s is not a directory", next), Fix: "correct the path", Err: syscall.ENOTDIR}
	}
	if e := checkFile(next, fi, w.via); e != nil {
		return nil, e
	}
	return &Checked{Path: next, Info: fi}, nil
}

// follow checks a link and queues its target's names in place of it.
func (w *walker) follow(link string, fi os.FileInfo) error {
	if e := checkOwner("symlink", link, fi, w.via, "chown -h root "+link); e != nil {
		return e
	}
	if w.links++; w.links > maxLinks {
		return &Error{Path: w.path, Msg: fmt.Sprintf("too many symlinks resolving %s", w.path), Fix: "shorten the symlink chain", Err: syscall.ELOOP}
	}
	target, err := os.Readlink(link)
	if err != nil {
		return statErr(link, err)
	}
	if w.via == "" {
		w.via = link
	}
	if filepath.IsAbs(target) {
		w.cur, w.info = "/", w.root
	}
	w.rest = append(splitNames(target), w.rest...)
	return nil
}

func splitNames(p string) []string { return strings.Split(p, "/") }

func onlyDots(names []string) bool {
	for _, n := range names {
		if n != "" && n != "." {
			return false
		}
	}
	return true
}

// checkDir: owned by root or us, and not writable by group or others
// unless root-owned and sticky (others cannot rename what is not theirs).
func checkDir(dir string, fi os.FileInfo, via string) *Error {
	// The directory may rightly belong to a service user (an output
	// directory): moving the file out is then the fix, not a chown.
	if e := checkOwner("directory", dir, fi, via, "keep the file in a directory only root can write, or chown root "+dir); e != nil {
		return e
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	sticky := fi.Mode()&os.ModeSticky != 0 && st != nil && st.Uid == 0
	if perm := fi.Mode().Perm(); perm&0o022 != 0 && !sticky {
		return &Error{Path: dir, Msg: fmt.Sprintf("directory %s is writable by group or others (mode %04o)%s", dir, perm, through(via)), Fix: "keep the file in a directory only root can write, or chmod go-w " + dir}
	}
	return nil
}

// checkFile: owned by root or us, and not writable by group or others.
func checkFile(p string, fi os.FileInfo, via string) *Error {
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return &Error{Path: p, Msg: fmt.Sprintf("%s is writable by group or others (mode %04o)%s", p, perm, through(via)), Fix: "chmod go-w " + p}
	}
	return checkOwner("", p, fi, via, "chown root "+p)
}

func checkOwner(kind, p string, fi os.FileInfo, via, fix string) *Error {
	uid, foreign := ForeignOwner(fi)
	if !foreign {
		return nil
	}
	what := p
	if kind != "" {
		what = kind + " " + p
	}
	return &Error{Path: p, Msg: fmt.Sprintf("%s is owned by uid %d, not root%s", what, uid, through(via)), Fix: fix}
}

// through names the first link that led to p, since the operator wrote
// the link's path, not its target's.
func through(via string) string {
	if via == "" {
		return ""
	}
	return " (reached through symlink " + via + ")"
}

// ForeignOwner returns the owner of fi when it is neither root nor the
// user certagent runs as.
func ForeignOwner(fi os.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return st.Uid, true
	}
	return 0, false
}

func statErr(p string, err error) *Error {
	if errors.Is(err, fs.ErrNotExist) {
		return &Error{Path: p, Msg: fmt.Sprintf("%s does not exist", p), Fix: "create it or correct the path", Err: err}
	}
	return &Error{Path: p, Msg: fmt.Sprintf("cannot stat %s: %v", p, unwrap(err)), Fix: "make it accessible to root", Err: err}
}

func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ReadTrusted reads a whole trusted file through OpenTrusted, refusing
// one larger than limit bytes.
func ReadTrusted(path string, limit int64) ([]byte, error) {
	f, err := OpenTrusted(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("cannot read %s: %v", path, unwrap(err)), Fix: "make it readable by root", Err: err}
	}
	if int64(len(data)) > limit {
		return nil, &Error{Path: path, Msg: fmt.Sprintf("%s is larger than %d bytes", path, limit), Fix: "point it at the right file"}
	}
	return data, nil
}

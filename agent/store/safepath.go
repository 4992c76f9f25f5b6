package store

import (
	"os"

	"github.com/certagent/certagent/internal/safefile"
)

// Output paths are resolved by internal/safefile: walked from "/" one
// component at a time without following an untrusted symlink, keeping a
// descriptor of the directory reached; every later operation (create
// temp, read, rename, fsync) is relative to that descriptor. A final
// symlink is refused unless File.FollowSymlinks, and even then followed
// only if trusted, as is every link and directory on its target's path.

func pathErr(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}

// dirHandle is an open directory (a safefile.Dir) with its descriptor
// and symlink-free path at hand for the journal code.
type dirHandle struct {
	*safefile.Dir
	fd   int
	path string
}

func wrapDir(d *safefile.Dir) *dirHandle { return &dirHandle{Dir: d, fd: d.Fd(), path: d.Path()} }

func (d *dirHandle) close() {
	if d != nil {
		d.Close()
	}
}

// join names an entry of d for messages and the journal.
func (d *dirHandle) join(name string) string { return d.Join(name) }

// openDir opens the absolute directory p (see safefile.OpenDir).
func openDir(p string, create bool, mode os.FileMode) (*dirHandle, error) {
	d, err := safefile.OpenDir(p, create, mode)
	if err != nil {
		return nil, err
	}
	return wrapDir(d), nil
}

// target is a resolved output file: an open parent directory and a name in it.
type target struct {
	dir  *dirHandle
	base string
}

func (t *target) path() string { return t.dir.Join(t.base) }

// resolveTarget opens the parent of path (creating it with dirMode) and
// checks the final component (see safefile.Resolve).
func resolveTarget(path string, follow, create bool, dirMode os.FileMode) (*target, error) {
	return resolveTargetVia(nil, path, follow, create, dirMode)
}

// resolveTargetVia is resolveTarget with the walk of path's directory
// shared through w (safefile.Walker.Resolve; a nil w shares nothing).
func resolveTargetVia(w *safefile.Walker, path string, follow, create bool, dirMode os.FileMode) (*target, error) {
	d, base, err := w.Resolve(path, safefile.Opts{Follow: follow, Create: create, DirMode: dirMode})
	if err != nil {
		return nil, err
	}
	return &target{dir: wrapDir(d), base: base}, nil
}

// sweepDepth reaches state_dir/acme/<issuer>/ and state_dir/ca/<issuer>/.
const sweepDepth = 2

// sweepTemps deletes every temp any certagent writer left in the state
// directory (they all use safefile.TempName): the store's own atomic
// writes, previous sets, removed-key markers, ACME account files and a
// local CA's half-created directory.
func (s *Store) sweepTemps(rep *RecoverReport) {
	rep.TempsRemoved = append(rep.TempsRemoved, safefile.Sweep(s.dir, sweepDepth)...)
}

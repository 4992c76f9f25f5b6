package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ErrUntrustedStateDir is wrapped by Open's error when the state
// directory, or a directory above it, could be changed by a user other
// than root or the user certagent runs as.
var ErrUntrustedStateDir = errors.New("state directory is not trusted")

// checkStateDir refuses a state directory that another user could change:
// it and every directory above it (of the path as given and of the path
// its symlinks lead to) must be owned by root or our euid and not be
// writable by group or others, unless root-owned and sticky like /tmp.
// Whoever can write one of them can swap in their own ca/ (the next certs
// are issued by their CA) or plant journal records that root replays.
// This is agent/config's rule for config files, applied again at open.
// Directories that do not exist yet are skipped: Open creates them 0700.
func checkStateDir(abs string) error {
	paths := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for d := p; ; d = filepath.Dir(d) {
			if problem, err := dirProblem(d); err != nil {
				return fmt.Errorf("state dir %s: %w", abs, err)
			} else if problem != "" {
				return fmt.Errorf("%w: state dir %s: directory %s %s", ErrUntrustedStateDir, abs, d, problem)
			}
			if d == "/" {
				break
			}
		}
	}
	return nil
}

// dirProblem says what makes directory d untrusted, or "" (also when it
// does not exist).
func dirProblem(d string) (string, error) {
	var st unix.Stat_t
	err := unix.Stat(d, &st)
	if errors.Is(err, unix.ENOENT) {
		return "", nil
	}
	if err != nil {
		return "", pathErr("stat", d, err)
	}
	euid := uint32(os.Geteuid())
	mode := st.Mode & 0o7777
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return "is not a directory", nil
	case st.Uid != 0 && st.Uid != euid:
		return fmt.Sprintf("is owned by uid %d, not root or uid %d (chown root %s)", st.Uid, euid, d), nil
	case mode&0o022 != 0 && !(mode&unix.S_ISVTX != 0 && st.Uid == 0):
		return fmt.Sprintf("is writable by group or others (mode %04o; chmod go-w %s)", mode, d), nil
	}
	return "", nil
}

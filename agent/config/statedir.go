package config

import (
	"os"
	"path/filepath"
)

// checkStateDir applies the config files' trust rule to state_dir: it and
// every directory above it must be owned by root (or the agent's own
// user) and not be writable by group or others, unless root-owned and
// sticky. Whoever can write one of them can swap in their own ca/ (the
// next certs are then issued by their CA) or plant journal records that
// root replays. A state_dir that does not exist yet is judged by its
// nearest existing parent (certagent creates the rest 0700), and one
// reached through symlinks also along the path they lead to.
func checkStateDir(p string) *valueError {
	d := filepath.Clean(p)
	for d != "/" {
		if _, err := os.Lstat(d); err == nil {
			break
		}
		d = filepath.Dir(d)
	}
	if ve := checkTrustedDirs(d); ve != nil {
		return ve
	}
	if real, err := filepath.EvalSymlinks(d); err == nil && real != d {
		return checkTrustedDirs(real)
	}
	return nil
}

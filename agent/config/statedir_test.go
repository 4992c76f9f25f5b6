package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStateDirOwnership: a state_dir that another user owns or can write,
// itself or above it, is a config error naming the directory and what is
// wrong; a missing one is judged by its parent; root's sticky /tmp-style
// directories pass.
func TestStateDirOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	cases := []struct {
		name  string
		setup func(lib, state string)
		want  string // "" = accepted
	}{
		{"missing under a trusted parent", func(lib, state string) {}, ""},
		{"trusted", func(lib, state string) { must(t, os.Mkdir(state, 0o755)) }, ""},
		{"owned by another user", func(lib, state string) {
			must(t, os.Mkdir(state, 0o700))
			must(t, os.Chown(state, 4242, 4242))
		}, `DIR/lib/state is owned by uid 4242, not root (chown root DIR/lib/state)`},
		{"missing, parent owned by another user", func(lib, state string) {
			must(t, os.Chown(lib, 4242, 4242))
		}, `DIR/lib is owned by uid 4242, not root (chown root DIR/lib)`},
		{"parent writable by others", func(lib, state string) {
			must(t, os.Chmod(lib, 0o777))
		}, `DIR/lib is writable by group or others (mode 0777) (chmod go-w DIR/lib)`},
		{"parent root-owned and sticky", func(lib, state string) {
			must(t, os.Chmod(lib, os.ModeSticky|0o777))
		}, ""},
		{"symlink into a directory another user owns", func(lib, state string) {
			home := filepath.Join(lib, "home")
			must(t, os.Mkdir(home, 0o755))
			must(t, os.Mkdir(filepath.Join(home, "st"), 0o700))
			must(t, os.Chown(home, 4242, 4242))
			must(t, os.Symlink(filepath.Join(home, "st"), state))
		}, `DIR/lib/home is owned by uid 4242, not root (chown root DIR/lib/home)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			lib := filepath.Join(dir, "lib")
			must(t, os.Mkdir(lib, 0o755))
			state := filepath.Join(lib, "state")
			c.setup(lib, state)
			conf := "[agent]\nstate_dir = \"" + state + "\"\n"
			opts := testOpts
			opts.SkipFileChecks = false
			_, err := Parse("c.toml", []byte(conf), opts)
			got := errLines(t, err, true)
			for i := range got {
				got[i] = strings.ReplaceAll(got[i], dir, "DIR")
			}
			var want []string
			if c.want != "" {
				want = []string{`c.toml:2: agent: key "state_dir": directory ` + c.want}
			}
			sameLines(t, got, want)
		})
	}
}

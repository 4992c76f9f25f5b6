package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// A state dir that another user owns or can write, itself or above it, is
// refused with the directory and the problem named; root's sticky /tmp
// style directories are fine.
func TestOpenRefusesUntrustedStateDir(t *testing.T) {
	needRoot(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, parent, state string)
		want  string // "" = accepted
	}{
		{"parent owned by another user", func(t *testing.T, parent, _ string) {
			must(t, os.Chown(parent, 4242, 4242))
		}, "is owned by uid 4242"},
		{"state dir owned by another user", func(t *testing.T, _, state string) {
			must(t, os.Mkdir(state, 0o700))
			must(t, os.Chown(state, 4242, 4242))
		}, "is owned by uid 4242"},
		{"parent writable by others", func(t *testing.T, parent, _ string) {
			must(t, os.Chmod(parent, 0o777))
		}, "is writable by group or others (mode 0777"},
		{"state dir group-writable", func(t *testing.T, _, state string) {
			must(t, os.Mkdir(state, 0o770))
			must(t, os.Chmod(state, 0o770))
		}, "is writable by group or others (mode 0770"},
		{"symlink to a directory another user owns", func(t *testing.T, parent, state string) {
			home := filepath.Join(parent, "home")
			must(t, os.Mkdir(home, 0o755))
			must(t, os.Chown(home, 4242, 4242))
			must(t, os.Mkdir(filepath.Join(home, "st"), 0o700))
			must(t, os.Symlink(filepath.Join(home, "st"), state))
		}, "is owned by uid 4242"},
		{"root-owned sticky parent", func(t *testing.T, parent, _ string) {
			must(t, os.Chmod(parent, os.ModeSticky|0o777))
		}, ""},
		{"sticky parent owned by another user", func(t *testing.T, parent, _ string) {
			must(t, os.Chmod(parent, os.ModeSticky|0o777))
			must(t, os.Chown(parent, 4242, 4242))
		}, "is owned by uid 4242"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := filepath.Join(t.TempDir(), "lib")
			must(t, os.Mkdir(parent, 0o755))
			state := filepath.Join(parent, "certagent")
			c.setup(t, parent, state)
			s, err := Open(state, hclog.NewNullLogger())
			if c.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrUntrustedStateDir) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open = %v, %v; want ErrUntrustedStateDir: %s", s, err, c.want)
			}
			if _, serr := os.Stat(filepath.Join(state, journalDir)); serr == nil {
				t.Fatal("Open created journal/ in a state dir it refused")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

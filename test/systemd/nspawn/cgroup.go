package nspawn

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cgroupRoots returns the hierarchies a container's cgroup must be made
// in: on a hybrid host (what CI has) the named v1 "systemd" hierarchy and
// the v2 "unified" one; on a pure v2 host the root itself.
func cgroupRoots() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	var roots []string
	for _, r := range []string{"/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"} {
		if _, err := os.Stat(filepath.Join(r, "cgroup.procs")); err == nil {
			roots = append(roots, r)
		}
	}
	return roots
}

// makeCgroups creates one cgroup named name in every hierarchy.
func makeCgroups(t testing.TB, name string) []string {
	t.Helper()
	var dirs []string
	for _, r := range cgroupRoots() {
		d := filepath.Join(r, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			removeCgroups(dirs)
			t.Fatalf("creating cgroup: %v", err)
		}
		dirs = append(dirs, d)
	}
	return dirs
}

// killCgroups SIGKILLs every process left in the cgroups.
func killCgroups(dirs []string) {
	for _, d := range dirs {
		_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || info.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			return nil
		})
	}
}

// removeCgroups removes the cgroups and the sub-cgroups systemd made
// inside, deepest first, retrying while exiting processes linger.
func removeCgroups(dirs []string) {
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range dirs {
		for {
			var sub []string
			_ = filepath.Walk(d, func(p string, info os.FileInfo, err error) error {
				if err == nil && info.IsDir() {
					sub = append(sub, p)
				}
				return nil
			})
			sort.Slice(sub, func(i, j int) bool { return len(sub[i]) > len(sub[j]) })
			for _, s := range sub {
				_ = os.Remove(s)
			}
			if _, err := os.Stat(d); os.IsNotExist(err) || time.Now().After(deadline) {
				break
			}
			killCgroups([]string{d})
			time.Sleep(100 * time.Millisecond)
		}
	}
}

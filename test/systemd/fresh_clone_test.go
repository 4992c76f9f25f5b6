package systemd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// TestMakePackageOnAFreshClone: in a copy of the tracked files (no .cache,
// no nfpm anywhere on PATH or in CERTAGENT_TOOLS), `make package` installs
// the pinned nfpm itself and builds both packages. It used to fail with
// `.cache/bin/nfpm: No such file or directory`.
func TestMakePackageOnAFreshClone(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping package build in -short mode")
	}
	requireTools(t, "make", "gzip", "git", "go")
	root := nspawn.RepoRoot(t)
	clone := t.TempDir()
	files, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a link
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		dst := filepath.Join(clone, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	goBin, _ := exec.LookPath("go")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CERTAGENT_TOOLS=") && !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "NFPM=") {
			env = append(env, kv)
		}
	}
	// Only the system directories and Go: no nfpm to find.
	env = append(env, "PATH="+filepath.Dir(goBin)+":/usr/sbin:/usr/bin:/sbin:/bin")
	if p, err := exec.LookPath("nfpm"); err == nil && strings.HasPrefix(p, "/usr/") {
		t.Skipf("nfpm is installed system-wide (%s): not a fresh machine", p)
	}
	cmd := exec.Command("make", "package", "VERSION=0.0.1+fresh")
	cmd.Dir, cmd.Env = clone, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("make package on a fresh copy: %v\n%s", err, out.String())
	}
	// A go-installed nfpm says "GitVersion: dev"; its build info has the
	// module version.
	v, err := exec.Command("go", "version", "-m", filepath.Join(clone, ".cache/bin/nfpm")).CombinedOutput()
	if err != nil || !strings.Contains(string(v), "github.com/goreleaser/nfpm/v2\tv2.45.2") {
		t.Errorf("make installed nfpm %q (%v), want the pinned v2.45.2", v, err)
	}
	for _, f := range []string{"dist/certagent_0.0.1+fresh_amd64.deb", "dist/certagent-0.0.1+fresh.x86_64.rpm"} {
		if _, err := os.Stat(filepath.Join(clone, f)); err != nil {
			t.Errorf("make package wrote no %s: %v\n%s", f, err, out.String())
		}
	}
}

// Package nspawn boots a real systemd as PID 1 in a systemd-nspawn
// container for certagent's end-to-end tests.
//
// The Debian rootfs is built once with debootstrap and cached as a
// tar.zst under <repo>/.cache/nspawn/, keyed by suite and package list,
// and unpacked once next to it. Every Boot runs that directory with
// --volatile=overlay: changes land in a per-container tmpfs, so
// containers never share state and the cache is never modified.
//
// Tests call Require first: without root they skip; with CI=true a
// missing tool is a failure, never a silent pass.
package nspawn

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Suite is the Debian release the container runs.
const Suite = "bookworm"

// Packages are installed into the rootfs on top of debootstrap's minbase.
// openssl serves and checks certs in scenarios; dbus is the system bus the
// Restarter talks to; procps is a dependency of the certagent .deb (kill);
// nginx-light is the mutual-TLS server that checks certagent's crl_file.
var Packages = []string{"systemd", "systemd-sysv", "dbus", "libpam-systemd", "openssl", "procps", "nginx-light"}

// masked units would only add noise (gettys on a read-only console, the
// packaged nginx on port 80) or background work (apt timers) to a test
// boot.
var masked = []string{
	"getty@.service", "console-getty.service", "container-getty@.service", "getty.target",
	"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
	"e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer", "systemd-tmpfiles-clean.timer",
	"nginx.service", // tests run nginx under units of their own
}

// prepVersion changes whenever prepare changes, so stale caches rebuild.
const prepVersion = "1"

// Tools are the host commands the harness runs.
var Tools = []string{"systemd-nspawn", "debootstrap", "zstd", "nsenter", "tar"}

// Require skips t unless the harness can run: it needs root, the Tools
// and a cgroup hierarchy. Under CI=true a missing tool fails t instead.
// testing.Short() skips too.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: booting systemd in systemd-nspawn needs root (CI runs as root)")
	}
	if testing.Short() {
		t.Skip("skipping systemd-nspawn test in -short mode")
	}
	var missing []string
	for _, tool := range Tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(cgroupRoots()) == 0 {
		missing = append(missing, "a cgroup hierarchy under /sys/fs/cgroup")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("systemd-nspawn harness needs %s (installed by test/setup.d/30-systemd.sh)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip("skipping: " + msg)
}

// RepoRoot returns the directory holding go.mod, starting from the
// working directory (go test runs in the package directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// cacheDir is <repo>/.cache/nspawn unless CERTAGENT_CACHE names another
// cache root.
func cacheDir(t testing.TB) string {
	root := os.Getenv("CERTAGENT_CACHE")
	if root == "" {
		root = filepath.Join(RepoRoot(t), ".cache")
	}
	d := filepath.Join(root, "nspawn")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

// RootfsTarball returns the cached rootfs tarball, building it first if
// needed. An flock serialises builders: go test runs packages in parallel.
func RootfsTarball(t testing.TB) string {
	t.Helper()
	dir := cacheDir(t)
	sum := sha256.Sum256([]byte(Suite + "|minbase|" + strings.Join(Packages, ",") + "|" + strings.Join(masked, ",") + "|" + prepVersion))
	tarball := filepath.Join(dir, fmt.Sprintf("rootfs-%s-%s.tar.zst", Suite, hex.EncodeToString(sum[:6])))

	lock, err := os.OpenFile(filepath.Join(dir, "rootfs.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing releases it anyway

	if _, err := os.Stat(tarball); err == nil {
		return tarball
	}
	build, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		t.Fatal(err)
	}
	// debootstrap mounts /proc (and maybe more) in the chroot; never let
	// RemoveAll walk into a mount that is still there.
	defer func() {
		if unmountUnder(build) {
			os.RemoveAll(build)
		}
	}()
	root := filepath.Join(build, "root")
	mirror := Mirror()
	t.Logf("building the %s rootfs with debootstrap from %s (about a minute; cached as %s)", Suite, mirror, tarball)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "debootstrap", "--variant=minbase",
		"--include="+strings.Join(Packages, ","), Suite, root, mirror).CombinedOutput()
	if err != nil {
		t.Fatalf("debootstrap: %v\n%s", err, tail(out, 40))
	}
	if err := prepare(root); err != nil {
		t.Fatalf("preparing rootfs: %v", err)
	}
	tmp := tarball + ".tmp"
	out, err = exec.Command("tar", "-C", root, "--numeric-owner", "--xattrs", "-I", "zstd -T0 -3", "-cf", tmp, ".").CombinedOutput()
	if err != nil {
		os.Remove(tmp)
		t.Fatalf("tar rootfs: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, tarball); err != nil {
		t.Fatal(err)
	}
	t.Logf("rootfs built in %s", time.Since(start).Round(time.Second))
	pruneOld(dir, filepath.Base(strings.TrimSuffix(tarball, ".tar.zst")))
	return tarball
}

// RootfsDir returns the cached rootfs unpacked once into a directory next
// to the tarball. Containers never write to it (--volatile=overlay keeps
// every change in a tmpfs), so all of them boot from this one directory.
func RootfsDir(t testing.TB) string {
	t.Helper()
	tarball := RootfsTarball(t)
	dir := strings.TrimSuffix(tarball, ".tar.zst")
	if _, err := os.Stat(filepath.Join(dir, "etc/os-release")); err == nil {
		return dir
	}
	lock, err := os.OpenFile(tarball+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/os-release")); err == nil {
		return dir
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("tar", "-C", tmp, "--numeric-owner", "--xattrs", "-I", "zstd", "-xpf", tarball).CombinedOutput(); err != nil {
		t.Fatalf("unpacking %s: %v\n%s", tarball, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// prepare makes the rootfs quiet and self-contained for test boots.
func prepare(root string) error {
	for _, u := range masked {
		p := filepath.Join(root, "etc/systemd/system", u)
		os.Remove(p)
		if err := os.Symlink("/dev/null", p); err != nil {
			return err
		}
	}
	// Persistent journal, so the host can read it through /proc/PID/root.
	if err := os.MkdirAll(filepath.Join(root, "var/log/journal"), 0o2755); err != nil {
		return err
	}
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		os.Remove(d)
	}
	return nil
}

// Mirror is the Debian mirror apt on the host uses (so debootstrap goes
// where the host is allowed to go), CERTAGENT_DEBIAN_MIRROR if set, or
// deb.debian.org.
func Mirror() string {
	if m := os.Getenv("CERTAGENT_DEBIAN_MIRROR"); m != "" {
		return m
	}
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		if m := mirrorFromDeb822(f); m != "" {
			return m
		}
	}
	if m := mirrorFromList("/etc/apt/sources.list"); m != "" {
		return m
	}
	return "http://deb.debian.org/debian"
}

// mirrorFromDeb822 returns the first URI of a stanza serving Suite.
func mirrorFromDeb822(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, stanza := range strings.Split(string(data), "\n\n") {
		var uris, suites []string
		for _, line := range strings.Split(stanza, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			switch strings.TrimSpace(k) {
			case "URIs":
				uris = strings.Fields(v)
			case "Suites":
				suites = strings.Fields(v)
			}
		}
		for _, s := range suites {
			if s == Suite && len(uris) > 0 {
				return uris[0]
			}
		}
	}
	return ""
}

// mirrorFromList handles one-line "deb [opts] URI SUITE COMPONENTS".
func mirrorFromList(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		fields = fields[1:]
		if strings.HasPrefix(fields[0], "[") {
			for len(fields) > 0 && !strings.HasSuffix(fields[0], "]") {
				fields = fields[1:]
			}
			if len(fields) > 0 {
				fields = fields[1:]
			}
		}
		if len(fields) >= 2 && fields[1] == Suite {
			return fields[0]
		}
	}
	return ""
}

// pruneOld deletes cached rootfs trees and tarballs of other keys (an
// older package list), which would otherwise pile up at ~300 MB each.
func pruneOld(dir, keep string) {
	old, _ := filepath.Glob(filepath.Join(dir, "rootfs-*"))
	for _, p := range old {
		if !strings.HasPrefix(filepath.Base(p), keep) && unmountUnder(p) {
			os.RemoveAll(p)
		}
	}
}

// unmountUnder lazily unmounts everything mounted below dir and reports
// whether nothing is mounted there any more.
func unmountUnder(dir string) bool {
	for i := 0; i < 3; i++ {
		data, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			return false
		}
		var mounts []string
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
				mounts = append(mounts, f[4])
			}
		}
		if len(mounts) == 0 {
			return true
		}
		for j := len(mounts) - 1; j >= 0; j-- {
			_ = syscall.Unmount(mounts[j], syscall.MNT_DETACH)
		}
	}
	return false
}

// tail returns the last n lines of out.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Package systemd holds certagent's end-to-end scenarios under a real
// systemd (issue 4): the packages, installed with dpkg into a booted
// systemd-nspawn container, and the daemon as an operator sees it.
//
// Scenarios boot containers with nspawn.Boot; shared steps (building the
// packages, installing them) are helpers in this file so new scenarios
// stay short.
package systemd

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// Package versions the scenarios build; two of them to test upgrades.
const (
	version1 = "0.0.1+e2e1"
	version2 = "0.0.1+e2e2"
)

var (
	pkgMu    sync.Mutex
	pkgBuilt = map[string]packages{}
)

// packages are the built files of one version.
type packages struct{ deb, rpm string }

// requireTools skips (or, under CI, fails) when a host tool is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (installed by test/setup.d/30-systemd.sh)", tool)
			if os.Getenv("CI") == "true" {
				t.Fatal(msg)
			}
			t.Skip("skipping: " + msg)
		}
	}
}

// nfpmPath finds nfpm on PATH or in the tool cache.
func nfpmPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nfpm"); err == nil {
		return p
	}
	dir := os.Getenv("CERTAGENT_TOOLS")
	if dir == "" {
		dir = filepath.Join(nspawn.RepoRoot(t), ".cache", "bin")
	}
	p := filepath.Join(dir, "nfpm")
	if _, err := os.Stat(p); err != nil {
		msg := "nfpm not found on PATH or in " + dir + " (installed by test/setup.d/30-systemd.sh)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("skipping: " + msg)
	}
	return p
}

// buildPackages runs `make package VERSION=version` at the repository
// root, once per version per test binary, and returns the files.
func buildPackages(t *testing.T, version string) packages {
	t.Helper()
	requireTools(t, "make", "gzip")
	nfpm := nfpmPath(t)
	pkgMu.Lock()
	defer pkgMu.Unlock()
	if p, ok := pkgBuilt[version]; ok {
		return p
	}
	root := nspawn.RepoRoot(t)
	cmd := exec.Command("make", "-C", root, "package", "VERSION="+version, "NFPM="+nfpm)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package VERSION=%s: %v\n%s", version, err, out)
	}
	p := packages{
		deb: filepath.Join(root, "dist", "certagent_"+version+"_amd64.deb"),
		rpm: filepath.Join(root, "dist", "certagent-"+version+".x86_64.rpm"),
	}
	for _, f := range []string{p.deb, p.rpm} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("make package did not write %s: %v", f, err)
		}
	}
	pkgBuilt[version] = p
	return p
}

// run runs a host command and fails t with its output on error.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Layout both packages must have.
var wantFiles = []string{
	"/usr/bin/certagent",
	"/usr/lib/systemd/system/certagent.service",
	"/etc/certagent/certagent.toml",
	"/etc/certagent/conf.d",
	"/etc/ssl/certagent",
	"/usr/share/man/man8/certagent.8.gz",
	"/usr/share/man/man5/certagent.toml.5.gz",
	"/usr/share/doc/certagent/copyright",
	"/usr/share/doc/certagent/README.md",
	"/usr/share/doc/certagent/configuration.md",
	"/usr/share/doc/certagent/examples/quickstart.toml",
}

func TestPackagesLintAndLayout(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping package build in -short mode")
	}
	requireTools(t, "lintian", "rpm", "dpkg-deb")
	p := buildPackages(t, version1)

	// lintian: no errors. Overrides live in packaging/deb/lintian-overrides,
	// each with its reason.
	out, _ := exec.Command("lintian", "--tag-display-limit", "0", p.deb).CombinedOutput()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E: ") {
			t.Errorf("lintian error: %s", line)
		}
	}

	debList := run(t, "dpkg-deb", "-c", p.deb)
	rpmList := run(t, "rpm", "-qp", "-l", p.rpm)
	for _, f := range wantFiles {
		if !strings.Contains(debList, "."+f) {
			t.Errorf(".deb lacks %s", f)
		}
		if !strings.Contains(rpmList, f+"\n") {
			t.Errorf(".rpm lacks %s", f)
		}
	}
	if !strings.Contains(debList, "./usr/share/doc/certagent/changelog.Debian.gz") {
		t.Errorf(".deb lacks the Debian changelog")
	}
	if conf := run(t, "dpkg-deb", "-I", p.deb, "conffiles"); strings.TrimSpace(conf) != "/etc/certagent/certagent.toml" {
		t.Errorf(".deb conffiles = %q, want only /etc/certagent/certagent.toml", conf)
	}
	if conf := run(t, "rpm", "-qp", "--configfiles", p.rpm); strings.TrimSpace(conf) != "/etc/certagent/certagent.toml" {
		t.Errorf(".rpm config files = %q", conf)
	}
	if flags := run(t, "rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", p.rpm); !strings.Contains(flags, "cn /etc/certagent/certagent.toml") {
		t.Errorf("certagent.toml is not %%config(noreplace) in the .rpm:\n%s", flags)
	}
	scripts := run(t, "rpm", "-qp", "--scripts", p.rpm)
	for _, want := range []string{`if [ "$1" -eq 1 ]`, "preset certagent.service", `if [ "$1" -eq 0 ]`,
		"disable --now certagent.service", `if [ "$1" -ge 1 ]`, "try-restart certagent.service"} {
		if !strings.Contains(scripts, want) {
			t.Errorf("rpm scripts lack %q", want)
		}
	}
	if v := run(t, "rpm", "-qp", "--qf", "%{VERSION} %{ARCH}", p.rpm); v != version1+" x86_64" {
		t.Errorf("rpm version/arch %q", v)
	}
	if v := strings.TrimSpace(run(t, "dpkg-deb", "-f", p.deb, "Version")); v != version1+"-1" {
		t.Errorf("deb version %q, want %s-1", v, version1)
	}
}

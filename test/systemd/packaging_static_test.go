package systemd

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// TestLicenceIsApache2: LICENSE is the Apache License 2.0 text (the copy
// Debian ships, when present), and the package metadata says the same.
func TestLicenceIsApache2(t *testing.T) {
	root := nspawn.RepoRoot(t)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	lic := read(filepath.Join(root, "LICENSE"))
	if !strings.Contains(lic, "Apache License\n                           Version 2.0, January 2004") ||
		!strings.Contains(lic, "END OF TERMS AND CONDITIONS") {
		t.Errorf("LICENSE is not the Apache License 2.0 text")
	}
	if deb, err := os.ReadFile("/usr/share/common-licenses/Apache-2.0"); err == nil && string(deb) != lic {
		t.Errorf("LICENSE differs from /usr/share/common-licenses/Apache-2.0")
	}
	if !regexp.MustCompile(`(?m)^license: Apache-2.0$`).MatchString(read(filepath.Join(root, "nfpm.yaml"))) {
		t.Errorf("nfpm.yaml does not say license: Apache-2.0")
	}
	cp := read(filepath.Join(root, "packaging/copyright"))
	for _, want := range []string{"Files: *\nCopyright: 2026 The certagent authors\nLicense: Apache-2.0\n",
		"/usr/share/common-licenses/Apache-2.0"} {
		if !strings.Contains(cp, want) {
			t.Errorf("packaging/copyright lacks %q", want)
		}
	}
}

// TestPostrmReloadsLast: postrm's daemon-reload comes after everything
// that changes what systemd sees of the unit (the unit file is gone by
// then; mask, purge and unmask edit /etc/systemd/system), so systemd is
// not left with a stale view ("unit file changed on disk"). systemd 252
// in the container happens not to report the stale view, so the order is
// checked in the script itself.
func TestPostrmReloadsLast(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(nspawn.RepoRoot(t), "packaging/deb/postrm"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	reload := strings.LastIndex(s, "daemon-reload")
	if reload < 0 {
		t.Fatal("postrm never reloads systemd")
	}
	for _, cmd := range []string{"deb-systemd-helper mask", "deb-systemd-helper purge", "deb-systemd-helper unmask"} {
		if i := strings.LastIndex(s, cmd); i < 0 || i > reload {
			t.Errorf("postrm runs %q after its last daemon-reload (or not at all)", cmd)
		}
	}
	if strings.Count(s, "daemon-reload") != 1 {
		t.Errorf("postrm reloads systemd more than once; once, last, is enough")
	}
}

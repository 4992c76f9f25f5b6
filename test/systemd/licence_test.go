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

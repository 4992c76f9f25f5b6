// Package hostiletest helps unit tests play the service user who owns an
// output directory: as root, they chown what that user would have made
// to an unprivileged uid. The real-user attack suite lives in test/faults.
package hostiletest

import (
	"os"
	"path/filepath"
	"testing"
)

// ServiceUID stands for the service user (nobody on most systems).
const ServiceUID = 65534

// NeedRoot skips the test unless it runs as root (only root can chown to
// another uid); CI runs as root, so there it fails instead.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("this test needs root and CI runs as root")
	}
	t.Skip("needs root (chown to the service user's uid)")
}

// Dir makes parent/name, 0755, owned by the service user.
func Dir(t testing.TB, parent, name string) string {
	t.Helper()
	d := filepath.Join(parent, name)
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	Own(t, d)
	return d
}

// Link makes the symlink link -> target as the service user would.
func Link(t testing.TB, target, link string) string {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	Own(t, link)
	return link
}

// Own gives p (not what a link points to) to the service user.
func Own(t testing.TB, p string) {
	t.Helper()
	if err := os.Lchown(p, ServiceUID, ServiceUID); err != nil {
		t.Fatal(err)
	}
}

package pki

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// Issue 12 item 7: a service user who owns the output directory plants
// symlinks to root-only paths and reads certagent's verdict (status,
// logs, metrics). Whatever the link points to (a key, a missing file)
// and wherever it is (the file or a directory above it), the verdict
// must be the same and say no more than "not a certificate".
func TestInspectThroughPlantedSymlinkSaysOnlyNotACertificate(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	secret := filepath.Join(base, "root-only")
	if err := os.Mkdir(secret, 0o700); err != nil {
		t.Fatal(err)
	}
	keyText := keyPEM(t, testKey(t, KeyEC256, "leaf"))
	writeFile(t, secret, "ca.key", keyText)
	user := filepath.Join(base, "tls")
	if err := os.Mkdir(user, 0o755); err != nil {
		t.Fatal(err)
	}
	plant := func(name, target string) string {
		return hostiletest.Link(t, target, filepath.Join(user, name))
	}
	hostiletest.Own(t, user)
	paths := []string{
		plant("existing.pem", filepath.Join(secret, "ca.key")),
		plant("missing.pem", filepath.Join(secret, "nope.pem")),
		filepath.Join(plant("dir", secret), "ca.key"),
		filepath.Join(user, "dir", "nope.pem"),
	}
	for _, p := range paths {
		_, err := ReadFileLimited(p, 0)
		if !errors.Is(err, ErrNotCertificate) || errors.Is(err, fs.ErrNotExist) || err.Error() != p+": not a certificate" {
			t.Errorf("ReadFileLimited(%s) = %v, want only %q", p, err, p+": not a certificate")
		}
		rep := Inspect(p, p, Expect{}, testNow)
		if len(rep.Problems) != 2 {
			t.Fatalf("%s: problems %v, want one for the cert and one for the key", p, rep.Problems)
		}
		for _, pr := range rep.Problems {
			if pr.Kind != ProblemUnreadable || pr.Detail != "not a certificate" {
				t.Errorf("%s: problem %s, want unreadable: not a certificate", p, pr)
			}
			if s := strings.ToLower(pr.Detail); strings.Contains(s, "private key") || strings.Contains(s, "exist") {
				t.Errorf("%s: problem %q tells what the link points to", p, pr)
			}
			assertNoSecret(t, pr.String(), keyText)
		}
	}
}

// A symlink root put in a root-only directory (certbot's live/ links)
// is still followed.
func TestReadFileLimitedFollowsTrustedLinks(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "archive")
	if err := os.Mkdir(archive, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, archive, "cert1.pem", []byte("pem"))
	live := filepath.Join(dir, "live")
	if err := os.Symlink("archive", live); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../archive/cert1.pem", filepath.Join(archive, "cert.pem")); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadFileLimited(filepath.Join(live, "cert.pem"), 0); err != nil || string(b) != "pem" {
		t.Fatalf("trusted links: %q, %v", b, err)
	}
}

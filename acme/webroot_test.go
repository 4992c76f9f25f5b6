package acme

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/certagent/certagent/internal/safefile"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// Issue 12 item 6: the web root belongs to the service user, who points
// .well-known at a root-only directory. Root's mkdir, create and unlink
// must not follow that link.
func TestWebrootRefusesPlantedWellKnownLink(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	root, secret := filepath.Join(base, "www"), filepath.Join(base, "root-only")
	for _, d := range []string{root, filepath.Join(secret, "acme-challenge")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const token = "tok_en-123"
	decoy := filepath.Join(secret, "acme-challenge", token)
	if err := os.WriteFile(decoy, []byte("root data"), 0o600); err != nil {
		t.Fatal(err)
	}
	hostiletest.Own(t, root)
	hostiletest.Link(t, secret, filepath.Join(root, ".well-known"))
	w := newWebrootProvider(root)
	if err := w.Present("d", token, "keyauth"); !errors.Is(err, safefile.ErrUntrusted) || !errors.Is(err, syscall.ELOOP) {
		t.Fatalf("Present through a planted link = %v, want a refusal", err)
	}
	if err := w.CleanUp("d", token, "keyauth"); !errors.Is(err, safefile.ErrUntrusted) {
		t.Fatalf("CleanUp through a planted link = %v, want a refusal", err)
	}
	_ = w.release()
	b, err := os.ReadFile(decoy)
	if err != nil || !bytes.Equal(b, []byte("root data")) {
		t.Fatalf("decoy changed or removed: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Join(secret, "acme-challenge")); len(ents) != 1 {
		t.Fatalf("files created in the link's target: %v", ents)
	}
	if st, _ := os.Stat(decoy); st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("decoy mode/owner changed: %v", st.Mode())
	}
}

// Without links the challenge file is written world-readable and removed.
func TestWebrootWritesAndRemovesChallenge(t *testing.T) {
	root := t.TempDir()
	w := newWebrootProvider(root)
	const token = "tok_en-456"
	if err := w.Present("d", token, "keyauth"); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, ".well-known", "acme-challenge", token)
	st, err := os.Stat(p)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("challenge file %v, %v", st, err)
	}
	if b, _ := os.ReadFile(p); string(b) != "keyauth" {
		t.Fatalf("challenge file holds %q", b)
	}
	if err := w.release(); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 0 {
		t.Fatalf("left in the webroot: %v", ents)
	}
}

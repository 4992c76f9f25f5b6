package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// TestSandboxCheckIgnoresCallersPATH: `certagent check` asks systemctl
// for the unit's sandbox. Run by root from a shell whose PATH names a
// directory another user owns (a developer's ~/bin), it must not run the
// systemctl that user put there: only the fixed hook PATH, and a program
// that follows the trust rule.
func TestSandboxCheckIgnoresCallersPATH(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := hostiletest.Dir(t, base, "bin")
	marker := filepath.Join(base, "ran-as-root")
	fake := filepath.Join(bin, "systemctl")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\ntouch "+marker+"\necho LoadState=not-found\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostiletest.Own(t, fake)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	_ = loadSandbox()
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("check ran %s, a program owned by uid %d found through the caller's PATH, as root", fake, hostiletest.ServiceUID)
	}
}

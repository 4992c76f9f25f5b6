//go:build !failpoint

package failpoint

import (
	"testing"
)

// A normal build must never act on the environment variable: release
// binaries ignore it entirely.
func TestHitIsInertInNormalBuilds(t *testing.T) {
	t.Setenv(EnvVar, "x")
	if Enabled {
		t.Fatal("Enabled is true in a build without the failpoint tag")
	}
	Hit("x") // would SIGKILL the test binary if armed
}

package units

import (
	"testing"

	"golang.org/x/sys/unix"
)

// monotonicNow reads CLOCK_MONOTONIC in µs, as MONOTONIC_USEC carries it.
func monotonicNow(t *testing.T) int64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return ts.Nano() / 1000
}

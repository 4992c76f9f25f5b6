//go:build failpoint

package failpoint

import (
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Enabled reports whether this binary was built with failpoints.
const Enabled = true

var (
	once    sync.Once
	mu      sync.Mutex
	targets map[string]int
	hits    = map[string]int{}
)

// Hit kills the process with SIGKILL if name is armed in
// CERTAGENT_FAILPOINT and this is the armed hit.
func Hit(name string) {
	once.Do(func() {
		t, err := parse(os.Getenv(EnvVar))
		if err != nil {
			// A harness typo must not silently disarm a crash test.
			panic(err)
		}
		targets = t
	})
	mu.Lock()
	want, ok := targets[name]
	if !ok {
		mu.Unlock()
		return
	}
	hits[name]++
	fire := hits[name] == want
	mu.Unlock()
	if fire {
		fmt.Fprintf(os.Stderr, "failpoint: %s fired, killing pid %d\n", name, os.Getpid())
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // SIGKILL is asynchronous; never run past the point
	}
}

// Package failpoint lets crash tests kill the process at named points of
// the code. In normal builds Hit is an empty function the compiler
// removes; only binaries built with `-tags failpoint` can be killed.
//
// With the tag, the environment variable CERTAGENT_FAILPOINT holds a
// comma-separated list of names, each optionally `name=N` to fire on the
// N-th hit of that name (default: the first). When a listed point fires,
// the process sends itself SIGKILL: no deferred function, no cleanup and
// no buffered write runs, which is what a power cut or an OOM kill does.
package failpoint

import (
	"fmt"
	"strconv"
	"strings"
)

// EnvVar is the environment variable read by failpoint builds.
const EnvVar = "CERTAGENT_FAILPOINT"

// parse turns "a,b=3" into {"a":1,"b":3}. It is in the untagged file so
// that normal test runs cover it.
func parse(spec string) (map[string]int, error) {
	out := map[string]int{}
	for _, item := range strings.Split(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, nth, found := strings.Cut(item, "=")
		n := 1
		if found {
			v, err := strconv.Atoi(nth)
			if err != nil || v < 1 {
				return nil, fmt.Errorf("failpoint %q: count %q must be a positive integer", name, nth)
			}
			n = v
		}
		if name == "" {
			return nil, fmt.Errorf("failpoint spec %q: empty name", item)
		}
		out[name] = n
	}
	return out, nil
}

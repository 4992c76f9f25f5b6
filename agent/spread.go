package agent

import (
	"crypto/rand"
	"time"

	"github.com/certagent/certagent/agent/store"
)

// loadSpreadSeed loads (or creates) the per-install seed once, under the
// state dir lock. A state dir that cannot hold it (read-only, full) costs
// persistence, not spread: this process then jitters with a seed of its
// own, and the renewal times it plans may move at the next start.
func (a *Agent) loadSpreadSeed() {
	if a.spreadSeed != nil {
		return
	}
	seed, replaced, err := a.store.SpreadSeed()
	switch {
	case err != nil:
		a.log.Warn("cannot keep the spread seed in the state dir; using one for this run only", "error", err)
		seed = make([]byte, store.SpreadSeedSize)
		_, _ = rand.Read(seed)
	case replaced:
		a.log.Warn("the spread seed in the state dir was damaged; replaced it", "event", "spread_seed_replaced")
	}
	a.spreadSeed = seed
}

// backoff is how long st waits after its latest failure (st.failures).
func (a *Agent) backoff(st *certState, now time.Time) time.Duration {
	var notAfter time.Time
	if st.leaf != nil {
		notAfter = st.leaf.NotAfter()
	}
	return Backoff(a.policy(st), st.failures, now, notAfter)
}

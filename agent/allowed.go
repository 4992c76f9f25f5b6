package agent

import (
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/store"
)

// allowedFor is what journal recovery may act on under cfg: each cert's
// output files and the unit actions and hook run a change of them queues,
// exactly as issueOne hands them to Commit. A record the state directory
// holds beyond that is moved aside by the store, not replayed.
func allowedFor(cfg *config.Config) store.Allowed {
	allow := store.Allowed{}
	for name, c := range cfg.Certs {
		ac := store.AllowedCert{Intents: intentsFor(c)}
		for _, p := range c.OutputFiles() {
			ac.Outputs = append(ac.Outputs, store.Output{Path: p, FollowSymlinks: c.FollowSymlinks})
		}
		allow[name] = ac
	}
	return allow
}

// reinspect makes the next pass read the files of certs again: a refused
// journal record named them, and whatever it left must be judged (and the
// pair re-issued if it no longer matches) rather than trusted.
func (a *Agent) reinspect(names []string) {
	for _, n := range names {
		if st := a.certs[n]; st != nil {
			st.inspected = time.Time{}
		}
	}
}

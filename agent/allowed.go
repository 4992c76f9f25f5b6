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
		if c.CRLFile != "" { // crl_file commits (crl.go), shared by certs of one issuer
			n := crlStoreName(c)
			ac := allow[n]
			ac.Outputs = append(ac.Outputs, store.Output{Path: c.CRLFile, FollowSymlinks: c.FollowSymlinks})
			for _, u := range c.Units {
				if c.CRLAction != config.CRLActionNone && c.CRLAction != "" {
					ac.Intents = append(ac.Intents, store.Intent{Unit: u, Action: c.CRLAction, Cert: "crl:" + name})
				}
			}
			allow[n] = ac
		}
		if c.CAFile != "" { // a ca rotation's bundle commits (rotation.go)
			allow[caStoreName(name)] = store.AllowedCert{Intents: caIntents(c),
				Outputs: []store.Output{{Path: c.CAFile, FollowSymlinks: c.FollowSymlinks}}}
		}
	}
	return allow
}

// allowRecovery tells the store what journal recovery may act on under
// cfg. The set is made when the store judges a record, not kept: after
// the start-up recovery that is rare (a commit that finds a record left
// over), and kept it cost about 190 bytes of heap per cert.
func (a *Agent) allowRecovery(cfg *config.Config) {
	a.store.SetAllowedBy(func() store.Allowed { return allowedFor(cfg) })
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

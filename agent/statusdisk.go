package agent

import (
	"sort"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// StatusFromDisk is `certagent status` without a daemon round trip: it
// inspects every cert's and watch-only pair's files (read-only, no issuer
// contacted) and merges what the daemon last recorded in status.json for
// the same serial. It builds no Agent: the states come from the files,
// the config and prev alone, through the transitions the daemon uses.
func StatusFromDisk(cfg *config.Config, prev *StatusFile, now time.Time) []CertStatus {
	recorded := prev.byName()
	warnBefore := cfg.Agent.WarnBefore.Duration
	rotations := rotationsFromDisk(cfg)
	out := make([]CertStatus, 0, len(cfg.Certs)+len(cfg.Watch))
	for _, name := range cfg.CertNames() {
		c := cfg.Certs[name]
		st := &certState{name: name, cfg: c}
		st.observe(observeCert(cfg, c, nil, now), now)
		// As Agent.policy; the daemon's own plan, when it recorded one
		// for this cert, replaces it below (showRecorded).
		st.plan(Policy{Name: name, Before: c.RenewBeforeDuration, Fraction: c.RenewBeforeFraction})
		if p := crlFileProblem(c, now); p != "" {
			st.crlOf().err = p
		}
		if r, ok := recorded[name]; ok {
			st.showRecorded(r)
		}
		row := st.row(now, warnBefore)
		row.CARotation = rotationRow(rotations, st)
		row.WatchDegraded = recorded[name].WatchDegraded // the daemon's, whatever the serial
		row.IssuedBy = issuedByFor(cfg.Agent.StateDir, st)
		out = append(out, row)
	}
	for _, name := range cfg.WatchNames() {
		ws := &watchState{name: name, cfg: cfg.Watch[name]}
		ws.observe(observeWatch(cfg, ws.cfg, now), now)
		row := ws.row(now, warnBefore)
		row.WatchDegraded = recorded[row.Name].WatchDegraded
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

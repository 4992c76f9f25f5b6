package agent

// Health of the files on disk between renewals: expiry warnings and
// permissions restored after an outside change.

import (
	"os"
	"syscall"
	"time"

	"github.com/certagent/certagent/agent/store"
)

// warnExpiry logs at most once a day while a cert is inside warn_before,
// or not valid yet; kind is the log key naming it ("cert" or "watch").
func (a *Agent) warnExpiry(kind, name string, leaf *leafSummary, lastWarn *time.Time, file string, now time.Time) {
	if lastWarn.After(now) {
		*lastWarn = time.Time{} // the clock went back: "a day since" is void
	}
	if now.Before(leaf.NotBefore()) {
		// Re-issuing cannot help: a CA with the right time dates the new
		// cert the same way. Peers on this host refuse it until the
		// clock is fixed, so say so (daily, like expiry).
		if now.Sub(*lastWarn) >= 24*time.Hour {
			*lastWarn = now
			a.log.Warn("certificate is not valid yet; is the system clock wrong?", "event", "not_yet_valid", kind, name,
				"not_before", stamp(leaf.NotBefore()), "now", stamp(now), "file", file)
		}
		return
	}
	left := leaf.NotAfter().Sub(now)
	if !a.inWarnWindow(leaf, now) || now.Sub(*lastWarn) < 24*time.Hour {
		return
	}
	*lastWarn = now
	a.emitExpiring(kind, name, leaf, now)
	if left <= 0 {
		a.log.Error("certificate has expired", "event", "expiring", kind, name,
			"not_after", stamp(leaf.NotAfter()), "file", file)
		return
	}
	a.log.Warn("certificate expires soon", "event", "expiring", kind, name,
		"not_after", stamp(leaf.NotAfter()), "time_left", left.Round(time.Minute).String(), "file", file)
}

// fixPerms restores modes and owners loosened outside certagent, without
// re-issuing: the content is fine, only its exposure changed.
func (a *Agent) fixPerms(st *certState) {
	c := st.cfg
	for _, f := range a.expectedFiles(st) {
		fi, err := os.Lstat(f.Path)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		sys, _ := fi.Sys().(*syscall.Stat_t)
		wrongOwner := sys != nil && ((f.UID >= 0 && int(sys.Uid) != f.UID) || (f.GID >= 0 && int(sys.Gid) != f.GID))
		if fi.Mode().Perm() == f.Mode && !wrongOwner {
			continue
		}
		if _, err := a.store.FixPerms(f); err != nil {
			a.log.Error("cannot restore permissions", "cert", c.Name, "file", f.Path, "error", err)
			continue
		}
		a.log.Warn("permissions changed outside certagent; restored", "event", "permissions_restored",
			"cert", c.Name, "file", f.Path, "found_mode", fi.Mode().Perm().String(), "mode", f.Mode.String())
		a.metrics().ExternalChange(c.Name, ChangePermissions)
	}
}

// expectedFiles lists the outputs with their configured mode and owner.
func (a *Agent) expectedFiles(st *certState) []store.File {
	c := st.cfg
	var out []store.File
	add := func(path string, mode os.FileMode) {
		if path != "" {
			out = append(out, store.File{Path: path, Mode: mode, UID: c.UID, GID: c.GID, DirMode: c.DirMode.FileMode, FollowSymlinks: c.FollowSymlinks})
		}
	}
	if !st.keyRemoved {
		add(c.KeyFile, c.Mode.FileMode)
	}
	for _, p := range []string{c.CertFile, c.FullchainFile, c.ChainFile, c.CAFile} {
		add(p, c.CertMode.FileMode)
	}
	// Files that hold the key (or its password's use) stay at the key mode.
	for _, p := range []string{c.BundleFile, c.PKCS12File} {
		add(p, c.Mode.FileMode)
	}
	add(c.TLSInfoFile, c.Mode.FileMode&0o600)
	for _, t := range c.Templates {
		m := c.Mode.FileMode
		if t.Mode.Set {
			m = t.Mode.FileMode
		}
		add(t.Dest, m)
	}
	return out
}

// inWarnWindow reports whether leaf is inside its warning horizon at now,
// where warnExpiry repeats its warning daily. Outside it (say, renewed
// after a warning) the last warning is no reason to wake up: its time plus
// a day passes once and is never moved again, so waking for it would spin.
func (a *Agent) inWarnWindow(leaf *leafSummary, now time.Time) bool {
	return leaf.NotAfter().Sub(now) < a.warnHorizon(leaf)
}

// warnHorizon is the agent's warn_before for leaf (see horizonOf).
func (a *Agent) warnHorizon(leaf *leafSummary) time.Duration {
	return horizonOf(a.cfg.Agent.WarnBefore.Duration, leaf)
}

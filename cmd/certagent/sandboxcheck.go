package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/certagent/certagent/agent/config"
)

// sandboxWarnings compares every directory certagent writes in (outputs,
// template destinations, ACME webroots, the state dir) with what the
// installed unit lets the daemon write. It returns one warning per
// directory it may not write, then the drop-in that grants them; nothing
// when sb is nil (no unit installed) or everything is writable.
func sandboxWarnings(cfg *config.Config, sb *sandbox) []string {
	if sb == nil {
		return nil
	}
	uses := map[string][]string{} // dir -> what writes there
	add := func(dir, what string) {
		if dir != "" && filepath.IsAbs(dir) {
			dir = filepath.Clean(dir)
			uses[dir] = append(uses[dir], what)
		}
	}
	add(cfg.Agent.StateDir, "state_dir")
	for _, name := range cfg.CertNames() {
		for _, f := range cfg.Certs[name].OutputFiles() {
			add(filepath.Dir(f), fmt.Sprintf("cert %q %s", name, f))
		}
	}
	for name, is := range cfg.Issuers {
		add(is.Webroot, fmt.Sprintf("issuer %q webroot", name))
	}
	dirs := make([]string, 0, len(uses))
	for d := range uses {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	var out, grant []string
	home := false
	for _, d := range dirs {
		why := sb.denies(d)
		if why == "" {
			continue
		}
		out = append(out, fmt.Sprintf("warning: %s may not write in %s (%s, from %s): %s",
			unitName, d, why, sb.source, strings.Join(uses[d], ", ")))
		grant = append(grant, d)
		home = home || longest(d, homeDirs) != ""
	}
	if len(grant) == 0 {
		return nil
	}
	out = append(out, "To let it write there, create the directories, then add a drop-in with `systemctl edit certagent`:",
		"  install -d "+strings.Join(grant, " "),
		"  [Service]")
	if home && (sb.protectHome == "yes" || sb.protectHome == "tmpfs") {
		out = append(out, "  ProtectHome=read-only")
	}
	out = append(out, "  ReadWritePaths="+strings.Join(grant, " "),
		"and restart it (sandbox changes need a restart): systemctl restart certagent")
	return out
}

package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/watch"
)

// watchKeyPrefix distinguishes watch-only entries from managed certs in
// the watcher's key space.
const watchKeyPrefix = "watch:"

// watchState is what the agent knows of one [watch.NAME] pair, written
// by another tool.
type watchState struct {
	name string
	cfg  *config.Watch

	inspected   time.Time
	leaf        *leafSummary
	sans        []string // the leaf's DNS names and IPs, for its status row
	problems    []pki.Problem
	fingerprint string // of the last valid pair seen; "" before the first
	lastWarn    time.Time
	settleUntil time.Time // see certState.settleUntil
	reported    bool      // the current breakage was logged
}

// updateWatches tells the watcher which paths belong to which key.
func (a *Agent) updateWatches() {
	w := a.opts.Watcher
	if w == nil {
		return
	}
	keys := map[string]bool{}
	for name, st := range a.certs {
		paths := st.cfg.OutputFiles()
		if tf := a.tokenFileOf(st.cfg); tf != "" {
			paths = append(paths, tf) // a new token ends needs_token
		}
		w.Set(name, paths)
		keys[name] = true
	}
	for name, ws := range a.watches {
		paths := []string{ws.cfg.CertFile}
		if ws.cfg.KeyFile != "" {
			paths = append(paths, ws.cfg.KeyFile)
		}
		w.Set(watchKeyPrefix+name, paths)
		keys[watchKeyPrefix+name] = true
	}
	for k := range a.watchKeys {
		if !keys[k] {
			w.Set(k, nil)
		}
	}
	a.watchKeys = keys
}

// noteExternal records a file event; the pass that follows judges it.
func (a *Agent) noteExternal(ev watch.Event) {
	a.log.Debug("files changed on disk", "key", ev.Key, "paths", strings.Join(ev.Paths, ","))
}

// passWatches re-inspects the watch-only pairs that changed or whose
// backstop interval elapsed, and acts on their units when a new valid
// pair appeared.
func (a *Agent) passWatches(ctx context.Context, po passOptions, now time.Time) {
	names := make([]string, 0, len(a.watches))
	for n := range a.watches {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ws := a.watches[n]
		iv := a.cfg.Agent.CheckInterval.Duration
		settled := !ws.settleUntil.IsZero() && !now.Before(ws.settleUntil)
		if ws.inspected.IsZero() || po.dirty[watchKeyPrefix+n] || settled || (iv > 0 && !now.Before(ws.inspected.Add(iv))) {
			a.inspectWatch(ctx, ws, po.dirty[watchKeyPrefix+n], now)
		}
		if ws.leaf != nil {
			a.warnExpiry("watch", n, ws.leaf, &ws.lastWarn, ws.cfg.CertFile, now)
		}
	}
}

func (a *Agent) inspectWatch(ctx context.Context, ws *watchState, event bool, now time.Time) {
	c := ws.cfg
	first := ws.inspected.IsZero()
	a.readWatch(ws, now)
	log := a.log.With("watch", ws.name)
	if len(ws.problems) > 0 {
		switch {
		case event && ws.settleUntil.IsZero():
			ws.settleUntil = now.Add(SettleTime) // maybe a two-step writer
		case now.Before(ws.settleUntil) || ws.reported:
		default:
			ws.settleUntil, ws.reported = time.Time{}, true
			log.Error("watched pair is invalid; units left alone", "event", "watch_invalid",
				"problem", ws.problems[0].Detail, "file", ws.problems[0].File)
		}
		return
	}
	ws.settleUntil, ws.reported = time.Time{}, false
	fp := fingerprint(c.CertFile, c.KeyFile)
	if fp == ws.fingerprint {
		return
	}
	ws.fingerprint = fp
	if first {
		return
	}
	log.Info("watched pair changed", "event", "watch_changed", "serial", ws.leaf.Serial(), "not_after", stamp(ws.leaf.NotAfter()))
	a.metrics().ExternalChange(watchKeyPrefix+ws.name, ChangeReplaced)
	// Recorded like a managed cert's actions, so the pass's deliver step
	// does them (one action per unit, shared with managed certs), keeps
	// them pending while the service manager is unreachable, and a
	// restarted daemon still does them.
	key := watchKeyPrefix + ws.name
	var intents []store.Intent
	for _, u := range c.Units {
		intents = append(intents, store.Intent{Unit: u, Action: c.Action, Cert: key})
	}
	if len(c.Exec) > 0 {
		intents = append(intents, store.Intent{Action: actionExec, Cert: key})
	}
	if err := a.store.AddIntents(intents); err != nil {
		log.Error("cannot record the unit actions; acting now without a record", "error", err)
		for _, u := range c.Units {
			a.actOnUnit(ctx, &unitWork{unit: u, action: c.Action, certs: []string{key}})
		}
		if len(c.Exec) > 0 {
			a.runExec(ctx, key, c.Exec, c.ExecTimeout.Duration, watchEnv(c))
		}
	}
}

// readWatch inspects a watch-only pair's files. Nothing is repaired:
// certagent does not manage them.
func (a *Agent) readWatch(ws *watchState, now time.Time) {
	ws.observe(observeWatch(a.cfg, ws.cfg, now), now)
}

// fingerprint identifies a pair's content; "" when unreadable.
func fingerprint(files ...string) string {
	h := sha256.New()
	for _, f := range files {
		if f == "" {
			continue
		}
		b, err := pki.ReadFileLimited(f, pki.MaxFileSize)
		if err != nil {
			return ""
		}
		h.Write(b)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func watchEnv(c *config.Watch) []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"CERTAGENT_CERT_NAME=" + c.Name,
		"CERTAGENT_CERT_FILE=" + c.CertFile,
		"CERTAGENT_KEY_FILE=" + c.KeyFile,
		"LANG=" + os.Getenv("LANG"),
	}
}

// sameWatch reports whether two watch entries watch the same files.
func sameWatch(a, b *config.Watch) bool {
	return a.CertFile == b.CertFile && a.KeyFile == b.KeyFile
}

package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/certagent/certagent/internal/safefile"
)

// inspectAll inspects the certs of one pass on GOMAXPROCS workers owned
// by the pass, through the inspection cache and one Walker (directory
// walks shared by the certs of a directory). The workers only read: the
// results are applied by the caller, in its own order, on its goroutine.
// A cert missing from the result (the context ended) is inspected by the
// caller as before.
func (a *Agent) inspectAll(ctx context.Context, sts []*certState, roots map[string][]*x509.Certificate,
	w *safefile.Walker, now time.Time) map[*certState]inspectResult {
	if len(sts) == 0 {
		return nil
	}
	c := a.inspectCache()
	wall := time.Now() // the kernel's clock, which stamps ctimes (cacheSettle)
	jobs := make(map[*certState]inspectJob, len(sts))
	sigs := map[string][32]byte{}
	for _, st := range sts {
		rs := rootsFor(st, roots)
		key := strings.Join(issuerNames(st), "\x00")
		sig, ok := sigs[key]
		if !ok {
			sig = rootsSig(rs)
			sigs[key] = sig
		}
		jobs[st] = inspectJob{cfg: a.cfg, c: st.cfg, roots: rs, rsig: sig, entry: c.entries[st.name], walk: w, now: now, wall: wall}
	}
	var mu sync.Mutex
	out := make(map[*certState]inspectResult, len(sts))
	workers := runtime.GOMAXPROCS(0)
	a.fanOut(ctx, sts, func(*certState) (string, int) { return "inspect", workers }, func(st *certState) {
		r := runInspect(jobs[st])
		mu.Lock()
		out[st] = r
		mu.Unlock()
	})
	return out
}

// toInspect lists (in order, and as a set) the certs this pass inspects:
// those it renews or whose files changed, and those needsInspect picks.
func (a *Agent) toInspect(sorted []*certState, po passOptions, now time.Time) ([]*certState, map[*certState]bool) {
	var todo []*certState
	want := map[*certState]bool{}
	for _, st := range sorted {
		if (len(po.names) == 0 || po.names[st.name]) &&
			(po.forceAll || po.force[st.name] || po.dirty[st.name] || a.needsInspect(st, now)) {
			todo = append(todo, st)
			want[st] = true
		}
	}
	return todo, want
}

// takeInspection applies st's result of inspectAll (or, when the context
// ended before its worker ran, inspects it here) and judges any damage.
func (a *Agent) takeInspection(st *certState, done map[*certState]inspectResult, event bool, roots []*x509.Certificate, now time.Time) {
	healthy := !st.inspected.IsZero() && st.leaf != nil && len(st.problems) == 0
	if r, ok := done[st]; ok {
		a.absorb(st, r, now)
	} else {
		a.inspect(st, roots, now)
	}
	a.judgeDamage(st, event, healthy, now)
}

// inspectCache is the agent's cache, read from state_dir on first use.
func (a *Agent) inspectCache() *inspectCache {
	if a.icache == nil {
		c, err := loadInspectCache(a.cfg.Agent.StateDir)
		if err != nil && !isNotExist(err) {
			a.log.Debug("inspection cache not used; inspecting every cert", "error", err)
		}
		a.icache = c
	}
	return a.icache
}

// absorb takes in a worker's result for st (as inspect does) and records
// it in the cache.
func (a *Agent) absorb(st *certState, r inspectResult, now time.Time) {
	a.icache.apply(st.name, r)
	if e := a.icache.entries[st.name]; r.hit && e.issuedByKnown && st.issuedBySerial != e.leaf.serial {
		st.issuedBy, st.issuedBySerial = e.issuedBy, e.leaf.serial
	}
	a.observed(st, r.obs, now)
}

// saveInspectCache writes the cache back when a pass changed it. A
// failure costs the next start its speed, nothing else.
func (a *Agent) saveInspectCache() {
	c := a.icache
	if c == nil {
		return
	}
	c.prune(func(name string) bool { return a.certs[name] != nil })
	for name, e := range c.entries {
		st := a.certs[name]
		if !e.issuedByKnown && st.issuedBySerial != "" && st.issuedBySerial == e.leaf.serial {
			e.issuedBy, e.issuedByKnown, c.dirty = st.issuedBy, true, true
		}
	}
	if !c.dirty {
		return
	}
	if err := saveInspectCache(a.cfg.Agent.StateDir, c, c.sortedNames()); err != nil {
		a.log.Warn("cannot write the inspection cache", "error", err)
		return
	}
	c.dirty = false
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

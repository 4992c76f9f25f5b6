package agent

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// CertStatus is one row of `certagent status`. Its JSON form is a stable,
// documented interface (docs/status.md): fields are only ever added.
type CertStatus struct {
	Name        string    `json:"name"`
	Issuer      string    `json:"issuer"`
	SANs        []string  `json:"sans"`
	Serial      string    `json:"serial,omitempty"`
	NotAfter    time.Time `json:"not_after,omitzero"`
	NextRenewal time.Time `json:"next_renewal,omitzero"`
	State       string    `json:"state"`
	Failures    int       `json:"failures"`
	LastError   string    `json:"last_error,omitempty"`
	Problems    []string  `json:"problems,omitempty"`
	// KeyRemoved: the key file was deleted on purpose after the service
	// started (remove_key_after_start).
	KeyRemoved bool `json:"key_removed,omitempty"`
	// RetryAfter is when the CA asked certagent to come back (ACME
	// rateLimited with Retry-After), while that is ahead; no renewal
	// contacts the CA before it unless forced.
	RetryAfter time.Time `json:"retry_after,omitzero"`
}

// StatusFile is the content of state_dir/status.json.
type StatusFile struct {
	Version   int          `json:"version"`
	UpdatedAt time.Time    `json:"updated_at"`
	Certs     []CertStatus `json:"certs"`
}

// Snapshot returns the status of every cert. Safe to call from any
// goroutine.
func (a *Agent) Snapshot() []CertStatus {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.clock.Now()
	out := make([]CertStatus, 0, len(a.certs))
	for _, st := range a.certs {
		out = append(out, a.rowOf(st, now))
	}
	for _, ws := range a.watches {
		out = append(out, a.watchRow(ws, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (a *Agent) rowOf(st *certState, now time.Time) CertStatus {
	c := st.cfg
	row := CertStatus{
		Name:       st.name,
		Issuer:     c.Issuer,
		SANs:       append(append([]string{}, c.DNSNames...), c.IPAddresses...),
		State:      st.state(now, a.warnHorizon(st.leaf)),
		Failures:   st.failures,
		LastError:  st.lastErr,
		KeyRemoved: st.keyRemoved,
	}
	if st.leaf != nil {
		row.Serial = serialHex(st.leaf)
		row.NotAfter = st.leaf.NotAfter.UTC()
	}
	if nr := st.nextRenewal(); !nr.IsZero() {
		row.NextRenewal = nr.UTC()
	}
	if st.caRetryAt.After(now) {
		row.RetryAfter = st.caRetryAt.UTC()
	}
	for _, p := range st.problems {
		row.Problems = append(row.Problems, p.Detail)
	}
	return row
}

// watchRow is the status of a watch-only pair: certagent does not renew
// it, so its states are ok, expiring, expired, not_yet_valid, missing or
// invalid.
func (a *Agent) watchRow(ws *watchState, now time.Time) CertStatus {
	row := CertStatus{Name: watchKeyPrefix + ws.name, Issuer: "-", State: StateOK}
	for _, p := range ws.problems {
		row.Problems = append(row.Problems, p.Detail)
	}
	switch {
	case ws.leaf == nil && hasKind(ws.problems, "missing"):
		row.State = StateMissing
	case ws.leaf != nil && !now.Before(ws.leaf.NotAfter):
		row.State = StateExpired
	case ws.leaf != nil && now.Before(ws.leaf.NotBefore):
		row.State = StateNotYetValid
	case len(ws.problems) > 0:
		row.State = StateInvalid
	case ws.leaf != nil && a.inWarnWindow(ws.leaf, now):
		row.State = StateExpiring
	}
	if ws.leaf != nil {
		row.Serial = serialHex(ws.leaf)
		row.NotAfter = ws.leaf.NotAfter.UTC()
		row.SANs = append(append([]string{}, ws.leaf.DNSNames...), ipStrings(ws.leaf)...)
	}
	return row
}

func ipStrings(c *x509.Certificate) []string {
	out := make([]string, 0, len(c.IPAddresses))
	for _, ip := range c.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// publish writes status.json and tells the service manager and metrics.
func (a *Agent) publish() {
	rows := a.Snapshot()
	now := a.clock.Now()
	b, err := json.MarshalIndent(StatusFile{Version: 1, UpdatedAt: now.UTC(), Certs: rows}, "", "  ")
	if err == nil {
		if err = a.store.WriteStatus(append(b, '\n')); err == nil {
			a.lastStatus, _ = a.store.StatStatus()
		}
	}
	if err != nil {
		a.log.Error("cannot write status file", "error", err)
	}
	a.notifier().Status(Summary(rows, now))
	if m := a.opts.Metrics; m != nil {
		for _, r := range rows {
			m.SetCert(r.Name, r.NotAfter, r.NextRenewal, r.State)
		}
	}
}

// Summary is the one-line STATUS= text, e.g.
// "12 certs ok, 1 failing (web: acme rateLimited), next renewal det in 19d".
func Summary(rows []CertStatus, now time.Time) string {
	if len(rows) == 0 {
		return "no certs configured"
	}
	ok := 0
	var failing []string
	var next *CertStatus
	for i := range rows {
		r := &rows[i]
		switch r.State {
		case StateOK, StateExpiring, StateRenewing:
			ok++
		default:
			reason := r.State
			if r.LastError != "" {
				reason = limit(r.LastError, 60)
			}
			failing = append(failing, r.Name+": "+reason)
		}
		if !r.NextRenewal.IsZero() && (next == nil || r.NextRenewal.Before(next.NextRenewal)) {
			next = r
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s ok", ok, plural(ok, "cert", "certs"))
	if len(failing) > 0 {
		fmt.Fprintf(&b, ", %d failing (%s)", len(failing), limit(strings.Join(failing, "; "), 160))
	}
	if next != nil {
		fmt.Fprintf(&b, ", next renewal %s in %s", next.Name, HumanDuration(next.NextRenewal.Sub(now)))
	}
	return b.String()
}

// HumanDuration renders a duration coarsely: "19d", "5h", "12m", "now".
func HumanDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "now"
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// loadSeed reads what the previous daemon recorded; a missing or
// unreadable status file only means there is nothing to carry over.
func (a *Agent) loadSeed() {
	b, err := a.store.ReadStatus()
	if err != nil {
		return
	}
	var sf StatusFile
	if json.Unmarshal(b, &sf) != nil {
		a.log.Warn("status file unreadable; starting without the previous failures", "file", a.store.Dir()+"/status.json")
		return
	}
	a.seed = map[string]CertStatus{}
	for _, r := range sf.Certs {
		if r.Failures > 0 {
			a.seed[r.Name] = r
		}
	}
}

// adoptForeignStatus picks up the failures that a one-shot `certagent
// renew` recorded in status.json while this daemon ran (a rollback, a
// CA's Retry-After): without it the daemon's next write would erase them,
// and with them the backoff that keeps a rolled-back cert from being
// deployed again. It runs under the state-dir lock, as the one-shot's
// write did. A stat per pass tells whether the file is still the one
// this agent wrote (atomic writes give each version a new inode; mtime and
// size guard against the inode number being reused).
func (a *Agent) adoptForeignStatus() {
	if a.lastStatus == nil {
		return // nothing written yet: loadSeed read the file at start
	}
	fi, err := a.store.StatStatus()
	if err != nil || (os.SameFile(fi, a.lastStatus) && fi.ModTime().Equal(a.lastStatus.ModTime()) && fi.Size() == a.lastStatus.Size()) {
		return
	}
	b, err := a.store.ReadStatus()
	if err != nil {
		return
	}
	var sf StatusFile
	if json.Unmarshal(b, &sf) != nil {
		return
	}
	for _, r := range sf.Certs {
		st := a.certs[r.Name]
		if st == nil || r.Failures == 0 {
			continue
		}
		if a.seed == nil {
			a.seed = map[string]CertStatus{}
		}
		a.seed[r.Name] = r
		st.inspected = time.Time{} // re-read the files, then apply the seed
	}
}

// clearMootFailure forgets a failure once a valid cert other than the one
// on disk at the failure has appeared: something else (a one-shot
// `certagent renew`, an operator) replaced it, so the backoff and the
// "failed" state no longer describe anything.
func (a *Agent) clearMootFailure(st *certState) {
	if st.failures == 0 || st.leaf == nil || len(st.problems) > 0 || serialHex(st.leaf) == st.failedSerial {
		return
	}
	a.log.Info("earlier failure cleared: a new valid certificate is on disk", "cert", st.name,
		"serial", serialHex(st.leaf), "failures", st.failures)
	st.failures, st.retryAt, st.caRetryAt, st.lastErr, st.failedSerial = 0, time.Time{}, time.Time{}, "", ""
}

// applySeed restores a recorded failure (count, error, backoff) for the
// cert still on disk, once.
func (a *Agent) applySeed(st *certState, now time.Time) {
	r, ok := a.seed[st.name]
	if !ok {
		return
	}
	delete(a.seed, st.name)
	// Same serial on disk, or still no cert at all (a first issuance that
	// failed): the recorded failure is about what is there now.
	if r.Serial != serialHex(st.leaf) {
		return
	}
	st.failures, st.lastErr, st.failedSerial = r.Failures, r.LastError, r.Serial
	if r.NextRenewal.After(now) {
		st.retryAt = r.NextRenewal
	}
	st.caRetryAt = r.RetryAfter
	a.log.Info("previous failure carried over", "cert", st.name, "failures", r.Failures, "retry_at", stamp(st.retryAt))
}

// StatusFromDisk is `certagent status` without a daemon round trip: it
// inspects every cert's and watch-only pair's files (read-only, no issuer
// contacted) and merges what the daemon last recorded in status.json for
// the same serial.
func StatusFromDisk(cfg *config.Config, prev *StatusFile, now time.Time) []CertStatus {
	recorded := map[string]CertStatus{}
	if prev != nil {
		for _, r := range prev.Certs {
			recorded[r.Name] = r
		}
	}
	a := &Agent{cfg: cfg, clock: fixedClock(now), certs: map[string]*certState{}}
	out := make([]CertStatus, 0, len(cfg.Certs)+len(cfg.Watch))
	for _, name := range cfg.CertNames() {
		st := &certState{name: name, cfg: cfg.Certs[name]}
		a.inspect(st, nil, now)
		if r, ok := recorded[name]; ok && r.Serial == serialHex(st.leaf) {
			st.failures, st.lastErr = r.Failures, r.LastError
			st.renewing = r.State == StateRenewing
			st.needsToken = r.State == StateNeedsToken
			if r.NextRenewal.After(st.renewAt) && r.Failures > 0 {
				st.retryAt = r.NextRenewal
			}
			st.caRetryAt = r.RetryAfter
			// The daemon may have planned this very cert inside an ARI
			// window, which only it knows: status contacts no CA. Its
			// recorded time is the one it will act on.
			if r.Failures == 0 && st.leaf != nil && !r.NextRenewal.IsZero() {
				st.renewAt = r.NextRenewal
			}
		}
		out = append(out, a.rowOf(st, now))
	}
	for _, name := range cfg.WatchNames() {
		ws := &watchState{name: name, cfg: cfg.Watch[name]}
		a.readWatch(ws, now)
		out = append(out, a.watchRow(ws, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

package agent

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
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
	// Revocation is the cert's last `certagent revoke`; the state is
	// revoked while its serial is the one on disk.
	Revocation *RevocationStatus `json:"revocation,omitempty"`
	// CRLError says why crl_file could not be refreshed; the old CRL is
	// kept and the state is failed.
	CRLError string `json:"crl_error,omitempty"`
	// WatchDegraded: the daemon finds changes to the files by polling,
	// not inotify, and this says why (docs/watch.md).
	WatchDegraded string `json:"watch_degraded,omitempty"`
	// IssuedBy names the issuer that issued the cert on disk (one of the
	// cert's issuer list), when certagent recorded it.
	IssuedBy string `json:"issued_by,omitempty"`
}

// StatusFile is the content of state_dir/status.json.
type StatusFile struct {
	Version   int          `json:"version"`
	UpdatedAt time.Time    `json:"updated_at"`
	Certs     []CertStatus `json:"certs"`
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
		row.IssuedBy = a.issuedBy(st) // fallback_record.go
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
	if r := st.revoked; r != nil {
		row.Revocation = &RevocationStatus{Serial: r.Serial, Reason: r.Reason, RevokedAt: r.RevokedAt.UTC()}
	}
	row.CRLError = st.crlErr
	if row.LastError == "" {
		row.LastError = st.crlErr
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
	case ws.leaf == nil && hasKind(ws.problems, pki.ProblemMissing):
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

// publish shares the status for Snapshot, writes status.json and tells
// the service manager and metrics.
func (a *Agent) publish() {
	now := a.clock.Now()
	rows := a.rows(now)
	a.share(rows)
	b, err := json.MarshalIndent(StatusFile{Version: 1, UpdatedAt: now.UTC(), Certs: rows}, "", "  ")
	if err == nil {
		if err = a.store.WriteStatus(append(b, '\n')); err == nil {
			a.lastStatus, _ = a.store.StatStatus()
		}
	}
	if err != nil {
		a.log.Error("cannot write status file", "error", err)
	}
	a.notifier().Status(a.statusLine(rows, now))
	for _, r := range rows {
		a.metrics().SetCert(r.Name, r.NotAfter, r.NextRenewal, r.State)
		setIssuerMetric(a.metrics(), r) // fallback_record.go
	}
	a.metrics().WatchDegraded(a.watchDegraded() != "")
}

// statusLine is Summary, after a rejected reload's notice: the operator
// who ran `systemctl reload` sees it in `systemctl status` until a reload
// succeeds. Like Summary it is valid UTF-8 and at most StatusLineMax bytes.
func (a *Agent) statusLine(rows []CertStatus, now time.Time) string {
	line := Summary(rows, now, a.watchDegraded())
	if a.rejected == "" {
		return line
	}
	return clip(clip(a.rejected, 200)+"; "+line, StatusLineMax)
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
// deployed again. It adopts recoveries too: a one-shot that found a cert
// fine clears the failure this daemon had for the same serial, which it
// would otherwise write back as "failed". It runs under the state-dir lock, as the one-shot's
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
		// A recovery is a row without failures for a cert this agent
		// has failing, describing a cert on disk (a serial): the
		// one-shot looked at that cert and found it fine. Rows of certs
		// a `renew NAME` did not look at have no serial.
		recovery := r.Failures == 0 && r.Serial != "" && st != nil && st.failures > 0
		if st == nil || (r.Failures == 0 && !recovery) {
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

// applySeed restores a recorded failure (count, error, backoff), or an
// adopted recovery, for the cert still on disk, once.
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
	if r.Failures == 0 { // a recovery adopted from a one-shot renew
		a.log.Info("earlier failure cleared: certagent renew found the certificate fine", "cert", st.name,
			"serial", r.Serial, "failures", st.failures)
		st.failures, st.retryAt, st.caRetryAt, st.lastErr, st.failedSerial = 0, time.Time{}, time.Time{}, "", ""
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
		st.crlErr = crlFileProblem(st.cfg, now)
		degraded := recorded[name].WatchDegraded // the daemon's, whatever the serial
		if r, ok := recorded[name]; ok && r.Serial == serialHex(st.leaf) {
			st.failures, st.lastErr = r.Failures, r.LastError
			st.renewing = r.State == StateRenewing
			st.needsToken = r.State == StateNeedsToken
			if r.Failures > 0 {
				st.retryAt = r.NextRenewal // the daemon retries then (see due)
			}
			st.caRetryAt = r.RetryAfter
			if st.crlErr == "" {
				st.crlErr = r.CRLError
			}
			// The daemon may have planned this very cert inside an ARI
			// window, which only it knows: status contacts no CA. Its
			// recorded time is the one it will act on.
			if r.Failures == 0 && st.leaf != nil && !r.NextRenewal.IsZero() {
				st.renewAt = r.NextRenewal
			}
		}
		row := a.rowOf(st, now)
		row.WatchDegraded = degraded
		out = append(out, row)
	}
	for _, name := range cfg.WatchNames() {
		ws := &watchState{name: name, cfg: cfg.Watch[name]}
		a.readWatch(ws, now)
		row := a.watchRow(ws, now)
		row.WatchDegraded = recorded[row.Name].WatchDegraded
		out = append(out, row)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

type fixedClock time.Time

func (c fixedClock) Now() time.Time { return time.Time(c) }

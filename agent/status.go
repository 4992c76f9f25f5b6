package agent

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"time"

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
	// CARotation is set while the cert's local CA is being rotated.
	CARotation *CARotationStatus `json:"ca_rotation,omitempty"`
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

// rowOf is st's status row under the agent's config.
func (a *Agent) rowOf(st *certState, now time.Time) CertStatus {
	row := st.row(now, a.cfg.Agent.WarnBefore.Duration)
	row.CARotation = a.rotationRow(st)
	row.IssuedBy = a.issuedBy(st) // fallback_record.go
	return row
}

// row is the cert's status row at now; warnBefore is the config's
// warn_before (see horizonOf).
func (st *certState) row(now time.Time, warnBefore time.Duration) CertStatus {
	c := st.cfg
	row := CertStatus{
		Name:       st.name,
		Issuer:     c.Issuer,
		SANs:       sansOf(c),
		State:      st.state(now, horizonOf(warnBefore, st.leaf)),
		Failures:   st.failures,
		LastError:  st.lastErr,
		KeyRemoved: st.keyRemoved,
	}
	if st.leaf != nil {
		row.Serial = st.leaf.Serial()
		row.NotAfter = st.leaf.NotAfter()
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
		row.Revocation = &RevocationStatus{Serial: r.Serial, Reason: r.Reason, RevokedAt: r.RevokedAt.UTC(), Pending: r.Pending}
		if r.Pending {
			row.Revocation.Error = st.revokeRetry.errText()
			if at := st.revokeRetry.retryAt(); !at.IsZero() {
				row.Revocation.RetryAt = at.UTC()
			}
		}
	}
	row.CRLError = st.crl.errText()
	if row.LastError == "" {
		row.LastError = row.CRLError
	}
	return row
}

// watchRow is the status of a watch-only pair under the agent's config.
func (a *Agent) watchRow(ws *watchState, now time.Time) CertStatus {
	return ws.row(now, a.cfg.Agent.WarnBefore.Duration)
}

// row is the status of a watch-only pair at now: certagent does not renew
// it, so its states are ok, expiring, expired, not_yet_valid, missing or
// invalid.
func (ws *watchState) row(now time.Time, warnBefore time.Duration) CertStatus {
	row := CertStatus{Name: watchKeyPrefix + ws.name, Issuer: "-", State: StateOK}
	for _, p := range ws.problems {
		row.Problems = append(row.Problems, p.Detail)
	}
	switch {
	case ws.leaf == nil && hasKind(ws.problems, pki.ProblemMissing):
		row.State = StateMissing
	case ws.leaf != nil && !now.Before(ws.leaf.NotAfter()):
		row.State = StateExpired
	case ws.leaf != nil && now.Before(ws.leaf.NotBefore()):
		row.State = StateNotYetValid
	case len(ws.problems) > 0:
		row.State = StateInvalid
	case ws.leaf != nil && ws.leaf.NotAfter().Sub(now) < horizonOf(warnBefore, ws.leaf):
		row.State = StateExpiring
	}
	if ws.leaf != nil {
		row.Serial = ws.leaf.Serial()
		row.NotAfter = ws.leaf.NotAfter()
		row.SANs = append([]string{}, ws.sans...)
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

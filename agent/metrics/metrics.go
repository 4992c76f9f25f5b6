// Package metrics exposes certagent's state as Prometheus metrics. It is
// opt-in: the agent creates a Metrics only when [agent] metrics_listen is
// set. Every series is documented in docs/metrics.md; the names follow
// certmgr and cert-manager (…_not_after_timestamp_seconds and friends).
package metrics

import (
	"io"
	"slices"
	"sync"
	"time"
)

// States are the values of the state label of certagent_cert_state. For
// every cert exactly one of them is 1 and the others are 0. They are the
// agent's State* constants (agent/state.go); a test keeps the two equal.
var States = []string{"ok", "due", "renewing", "failed", "missing", "expired", "expiring", "not_yet_valid", "invalid", "needs_token", "revoked", "revoke_pending"}

// Renewal results, the values of the result label of
// certagent_renewals_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// Metrics holds certagent's series and writes them, with the Go runtime
// and process series, in the Prometheus text format (expo.go). Its
// methods are safe for concurrent use and cheap enough to call on every
// scheduler pass.
type Metrics struct {
	notAfter        *family
	nextRenewal     *family
	state           *family
	renewals        *family
	unitActions     *family
	externalChanges *family
	revocations     *family
	notifications   *family
	lastPass        *family
	watchDegraded   *family
	issuer          *family // see issuer.go
	all             []*family

	mu      sync.Mutex
	states  map[string]string // cert -> state last set
	issuers map[string]string // cert -> issuer last set
}

// New returns a Metrics with every family.
func New() *Metrics {
	m := &Metrics{
		notAfter: newFamily(typeGauge, "certagent_cert_not_after_timestamp_seconds",
			"NotAfter of the certificate on disk, in seconds since the Unix epoch.", "cert"),
		nextRenewal: newFamily(typeGauge, "certagent_cert_next_renewal_timestamp_seconds",
			"When certagent plans to renew the certificate next, in seconds since the Unix epoch.", "cert"),
		state: newFamily(typeGauge, "certagent_cert_state",
			"Current state of the certificate: 1 for the current state, 0 for the others.", "cert", "state"),
		renewals: newFamily(typeCounter, "certagent_renewals_total",
			"Issuance attempts (first issue, renewal or repair) by result.", "cert", "result"),
		unitActions: newFamily(typeCounter, "certagent_unit_actions_total",
			"Actions on systemd units after certificate changes, by action and result.", "unit", "action", "result"),
		externalChanges: newFamily(typeCounter, "certagent_external_changes_total",
			"Changes to managed or watched files made by something other than certagent.", "cert", "kind"),
		revocations: newFamily(typeCounter, "certagent_revocations_total",
			"Revocations asked of the issuer (certagent revoke), by RFC 5280 reason and result.", "cert", "reason", "result"),
		notifications: newFamily(typeCounter, "certagent_notifications_total",
			"Notification deliveries by target, event and result.", "target", "event", "result"),
		lastPass: newFamily(typeGauge, "certagent_last_pass_timestamp_seconds",
			"When the scheduler last completed a pass over the certificates, in seconds since the Unix epoch."),
		watchDegraded: newFamily(typeGauge, "certagent_watch_degraded",
			"1 while inotify is unavailable and file changes are found by polling, else 0."),
		issuer:  newIssuerFamily(),
		states:  map[string]string{},
		issuers: map[string]string{},
	}
	// Series without labels exist from the start, at 0, as they did
	// with client_golang.
	m.lastPass.set(0)
	m.watchDegraded.set(0)
	m.all = []*family{m.notAfter, m.nextRenewal, m.state, m.renewals, m.unitActions, m.externalChanges,
		m.revocations, m.notifications, m.lastPass, m.watchDegraded, m.issuer}
	return m
}

// WriteText writes every series with a value, certagent's and the Go
// runtime's and process's, in the Prometheus text format 0.0.4.
func (m *Metrics) WriteText(w io.Writer) error {
	fams := make([]snapshotFamily, 0, len(m.all)+32)
	for _, f := range m.all {
		fams = append(fams, f.snapshot())
	}
	fams = append(fams, goFamilies()...)
	fams = append(fams, processFamilies()...)
	return writeText(w, fams)
}

// SetCert records the current view of one cert (managed or watch-only).
// A zero notAfter (no readable cert on disk) or nextRenewal (nothing
// planned, e.g. watch-only certs) removes that series instead of
// publishing the Unix epoch, which alert rules would read as expired.
// state should be one of States; any other value is published as given
// (and replaced at the next SetCert), so a new state is never lost.
//
// The first SetCert for a cert also publishes its renewal counters at 0,
// so that increase() and rate() see the first failure.
func (m *Metrics) SetCert(cert string, notAfter, nextRenewal time.Time, state string) {
	setTime(m.notAfter, cert, notAfter)
	setTime(m.nextRenewal, cert, nextRenewal)

	m.mu.Lock()
	defer m.mu.Unlock()
	prev, seen := m.states[cert]
	if !seen {
		m.renewals.add(0, cert, ResultSuccess)
		m.renewals.add(0, cert, ResultFailure)
	}
	if seen && prev != state && !slices.Contains(States, prev) {
		m.state.delete(cert, prev)
	}
	m.states[cert] = state
	for _, s := range States {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.set(v, cert, s)
	}
	if !slices.Contains(States, state) {
		m.state.set(1, cert, state)
	}
}

func setTime(g *family, cert string, t time.Time) {
	if t.IsZero() {
		g.delete(cert)
		return
	}
	g.set(float64(t.UnixNano())/1e9, cert)
}

// DeleteCert removes every series of a cert that left the config.
func (m *Metrics) DeleteCert(cert string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, cert)
	delete(m.issuers, cert)
	for _, f := range []*family{m.notAfter, m.nextRenewal, m.state, m.renewals, m.externalChanges, m.revocations, m.issuer} {
		f.deleteMatching("cert", cert)
	}
}

// Revocation counts one revocation asked of an issuer; reason is the RFC
// 5280 name, result ResultSuccess or ResultFailure.
func (m *Metrics) Revocation(cert, reason, result string) {
	m.revocations.add(1, cert, reason, result)
}

// Renewal counts one issuance attempt; result is ResultSuccess or
// ResultFailure.
func (m *Metrics) Renewal(cert, result string) {
	m.renewals.add(1, cert, result)
}

// UnitAction counts one action on a unit. action is restart, reload,
// try-restart or reload-or-restart; result is success, failure or skipped
// (an inactive unit left alone).
func (m *Metrics) UnitAction(unit, action, result string) {
	m.unitActions.add(1, unit, action, result)
}

// ExternalChange counts one change made outside certagent; kind is one of
// the Change* constants or another short snake_case word.
func (m *Metrics) ExternalChange(cert, kind string) {
	m.externalChanges.add(1, cert, kind)
}

// PassCompleted records the end of a scheduler pass at t.
func (m *Metrics) PassCompleted(t time.Time) {
	m.lastPass.set(float64(t.UnixNano()) / 1e9)
}

// WatchDegraded sets certagent_watch_degraded.
func (m *Metrics) WatchDegraded(degraded bool) {
	v := 0.0
	if degraded {
		v = 1
	}
	m.watchDegraded.set(v)
}

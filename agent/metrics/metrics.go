// Package metrics exposes certagent's state as Prometheus metrics. It is
// opt-in: the agent creates a Metrics only when [agent] metrics_listen is
// set. Every series is documented in docs/metrics.md; the names follow
// certmgr and cert-manager (…_not_after_timestamp_seconds and friends).
package metrics

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// States are the values of the state label of certagent_cert_state. For
// every cert exactly one of them is 1 and the others are 0.
var States = []string{"ok", "due", "renewing", "failed", "missing", "expired", "expiring", "not_yet_valid", "invalid", "needs_token"}

// Renewal results, the values of the result label of
// certagent_renewals_total.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
)

// Metrics holds certagent's series in a registry of its own (not the
// global default one), with the Go runtime and process collectors. Its
// methods are safe for concurrent use and cheap enough to call on every
// scheduler pass.
type Metrics struct {
	reg *prometheus.Registry

	notAfter        *prometheus.GaugeVec
	nextRenewal     *prometheus.GaugeVec
	state           *prometheus.GaugeVec
	renewals        *prometheus.CounterVec
	unitActions     *prometheus.CounterVec
	externalChanges *prometheus.CounterVec
	lastPass        prometheus.Gauge

	mu     sync.Mutex
	states map[string]string // cert -> state last set
}

// New returns a Metrics with every collector registered.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		notAfter: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certagent_cert_not_after_timestamp_seconds",
			Help: "NotAfter of the certificate on disk, in seconds since the Unix epoch.",
		}, []string{"cert"}),
		nextRenewal: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certagent_cert_next_renewal_timestamp_seconds",
			Help: "When certagent plans to renew the certificate next, in seconds since the Unix epoch.",
		}, []string{"cert"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "certagent_cert_state",
			Help: "Current state of the certificate: 1 for the current state, 0 for the others.",
		}, []string{"cert", "state"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certagent_renewals_total",
			Help: "Issuance attempts (first issue, renewal or repair) by result.",
		}, []string{"cert", "result"}),
		unitActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certagent_unit_actions_total",
			Help: "Actions on systemd units after certificate changes, by action and result.",
		}, []string{"unit", "action", "result"}),
		externalChanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certagent_external_changes_total",
			Help: "Changes to managed or watched files made by something other than certagent.",
		}, []string{"cert", "kind"}),
		lastPass: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "certagent_last_pass_timestamp_seconds",
			Help: "When the scheduler last completed a pass over the certificates, in seconds since the Unix epoch.",
		}),
		states: map[string]string{},
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.notAfter, m.nextRenewal, m.state,
		m.renewals, m.unitActions, m.externalChanges, m.lastPass,
	)
	return m
}

// Registry returns the registry, for tests and for embedding.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

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
		m.renewals.WithLabelValues(cert, ResultSuccess)
		m.renewals.WithLabelValues(cert, ResultFailure)
	}
	if seen && prev != state && !slices.Contains(States, prev) {
		m.state.DeleteLabelValues(cert, prev)
	}
	m.states[cert] = state
	for _, s := range States {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(cert, s).Set(v)
	}
	if !slices.Contains(States, state) {
		m.state.WithLabelValues(cert, state).Set(1)
	}
}

func setTime(g *prometheus.GaugeVec, cert string, t time.Time) {
	if t.IsZero() {
		g.DeleteLabelValues(cert)
		return
	}
	g.WithLabelValues(cert).Set(float64(t.UnixNano()) / 1e9)
}

// DeleteCert removes every series of a cert that left the config.
func (m *Metrics) DeleteCert(cert string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.states, cert)
	l := prometheus.Labels{"cert": cert}
	m.notAfter.DeletePartialMatch(l)
	m.nextRenewal.DeletePartialMatch(l)
	m.state.DeletePartialMatch(l)
	m.renewals.DeletePartialMatch(l)
	m.externalChanges.DeletePartialMatch(l)
}

// Renewal counts one issuance attempt; result is ResultSuccess or
// ResultFailure.
func (m *Metrics) Renewal(cert, result string) {
	m.renewals.WithLabelValues(cert, result).Inc()
}

// UnitAction counts one action on a unit. action is restart, reload,
// try-restart or reload-or-restart; result is success, failure or skipped
// (an inactive unit left alone).
func (m *Metrics) UnitAction(unit, action, result string) {
	m.unitActions.WithLabelValues(unit, action, result).Inc()
}

// ExternalChange counts one change made outside certagent; kind is one of
// the Change* constants or another short snake_case word.
func (m *Metrics) ExternalChange(cert, kind string) {
	m.externalChanges.WithLabelValues(cert, kind).Inc()
}

// PassCompleted records the end of a scheduler pass at t.
func (m *Metrics) PassCompleted(t time.Time) {
	m.lastPass.Set(float64(t.UnixNano()) / 1e9)
}

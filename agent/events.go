package agent

// Events a person should hear about, handed to the EventSink
// (agent/notify). Which event fires where is listed in
// docs/notifications.md; the names are config.NotifyEvents.

import (
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/notify"
)

// EventSink receives events for notification. Implementation:
// notify.Notifier. Contract: Emit returns without waiting for any
// delivery (it may write a few small files) and applies the daily limit
// itself; Configure is called with the targets of every config the agent
// applies, before the first Emit.
type EventSink interface {
	Emit(ev notify.Event)
	Configure(targets map[string]*config.Notify)
}

// The event names the agent emits; config.NotifyEvents lists them all.
//
// To add one: emit it where the state is entered with
// a.emit(certEvent(kind, st, now, msg, errText)), list it in
// config.NotifyEvents and document it in docs/notifications.md. The
// notifier needs no change: it applies subscriptions and the daily limit
// to any kind.
const (
	eventRenewalFailed  = "renewal_failed"
	eventExpiring       = "expiring"
	eventRolledBack     = "rolled_back"
	eventConfigRejected = "config_rejected"
	eventRevoked        = "revoked"     // certagent revoke (revokeonce.go)
	eventNeedsToken     = "needs_token" // a step issuer needs a new token (token.go)
)

func (a *Agent) emit(ev notify.Event) {
	if a.opts.Events != nil {
		a.opts.Events.Emit(ev)
	}
}

func (a *Agent) configureEvents(cfg *config.Config) {
	if a.opts.Events != nil {
		a.opts.Events.Configure(cfg.Notify)
	}
}

// emitExpiring reports a cert inside its warning horizon (or expired);
// source is "cert" for a managed cert and "watch" for a watch-only one.
func (a *Agent) emitExpiring(source, name string, leaf *leafSummary, now time.Time) {
	msg := "certificate expires at " + stamp(leaf.NotAfter())
	if !leaf.NotAfter().After(now) {
		msg = "certificate expired at " + stamp(leaf.NotAfter())
	}
	a.emit(notify.Event{Kind: eventExpiring, Cert: name, Source: source, Time: now, Message: msg,
		Serial: leaf.Serial(), NotAfter: leaf.NotAfter()})
}

// certEvent is an event about a managed cert, described by its state.
func certEvent(kind string, st *certState, now time.Time, msg, errText string) notify.Event {
	ev := notify.Event{Kind: kind, Cert: st.name, Source: "cert", Time: now, Message: msg,
		Failures: st.failures, Error: errText, Serial: st.leaf.Serial()}
	if st.leaf != nil {
		ev.NotAfter = st.leaf.NotAfter()
	}
	return ev
}

// emitConfigRejected reports a reload that was refused, with every
// problem found (one line, "; "-separated); the running configuration
// stays.
func (a *Agent) emitConfigRejected(problems string) {
	a.emit(notify.Event{Kind: eventConfigRejected, Time: a.clock.Now(),
		Message: "configuration rejected; keeping the running one", Error: problems})
}

// Package notify tells a person about what certagent cannot fix alone:
// renewals that keep failing, certs about to expire, rollbacks and
// rejected configs. Events go to [notify.NAME] targets, a webhook (an
// HTTPS POST of a JSON body) or a command (run without a shell), at least
// once: every pending delivery is kept in state_dir/notify/ until the
// target acknowledges it (2xx, or exit code 0), across daemon restarts.
// docs/notifications.md is the user contract.
package notify

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// BodyVersion is the "version" field of every body; it changes only if
// a field changes meaning or goes away (new fields may be added).
const BodyVersion = 1

// Event is one thing that happened to one cert (or to the config, for
// config_rejected, whose Cert is empty).
type Event struct {
	// ID is stable for the event: every retry of every delivery of it
	// carries the same ID, so receivers can drop duplicates. Emit fills it.
	ID string `json:"id"`
	// Kind is one of config.NotifyEvents, e.g. "renewal_failed".
	Kind string `json:"event"`
	// Cert names the cert ([certs.NAME] or [watch.NAME]); "" when none.
	Cert string `json:"cert,omitempty"`
	// Source is "cert" for a managed cert, "watch" for a watch-only one.
	Source   string    `json:"source,omitempty"`
	Time     time.Time `json:"time"`
	Host     string    `json:"host,omitempty"`
	Message  string    `json:"message"`
	Serial   string    `json:"serial,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// Failures is the count of consecutive failed renewals
	// (renewal_failed, rolled_back); 0 elsewhere.
	Failures int `json:"failures,omitempty"`
	// Error is the last error text, without secrets (it is what the log
	// says already).
	Error string `json:"error,omitempty"`
}

// body is the JSON a webhook receives and a command reads on stdin.
type body struct {
	Version int `json:"version"`
	Event
}

func encodeBody(ev Event) []byte {
	b, _ := json.Marshal(body{Version: BodyVersion, Event: ev}) // plain data: cannot fail
	return b
}

// newID is a random 128-bit event id, in hex: unique across hosts and
// restarts without coordination.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b[:])
}

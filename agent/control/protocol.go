// Package control is the daemon's local control socket: one-shot commands
// (`certagent renew`, `revoke`, `status`, `reload`) hand their request to a running
// daemon, which does the work with its own credentials, sandbox, state-dir
// lock and journal, and streams the request's log lines back.
//
// # Protocol (version 1)
//
// The transport is a Unix stream socket, 0600 and owned by root; the daemon
// also checks the peer's SO_PEERCRED uid (0, or the daemon's own euid), and
// the client checks the daemon's the same way. Every message is one line of
// JSON: a request line is at most MaxRequest bytes, a daemon's line at
// most MaxReply (a status result holds every cert).
//
//  1. The client sends one Request line:
//     {"v":1,"op":"renew","names":["web"],"force":true}
//  2. The daemon answers with zero or more Message lines of type "log"
//     (the log records the daemon writes while it runs the request, at the
//     daemon's log level), at most one of type "result" (an op-specific
//     JSON payload, e.g. the status rows), and exactly one of type
//     "verdict", which is always last. Then it closes the connection.
//
// Requests run one at a time, in arrival order; "status" is read-only and
// does not wait for a running request. A daemon answers an op it does not
// know, or a newer protocol version, with a verdict of exit 2, so ops can
// be added without breaking older peers (a daemon from before "revoke"
// answers it with exit 2, and the client then names the cause). Unknown JSON
// fields are ignored in both directions; fields are only ever added.
//
// If the client goes away, the daemon finishes the request anyway: its
// outcome is in the journal and in `certagent status`.
package control

import (
	"encoding/json"
	"time"
)

// Version is the protocol version this package speaks.
const Version = 1

// Line limits: the longest request a daemon reads, and the longest line a
// client reads.
const (
	MaxRequest = 1 << 20
	MaxReply   = 64 << 20
)

// Ops of protocol version 1.
const (
	// OpRenew renews Names (all certs when empty) that are due, or all of
	// them with Force; certagent's own backoff does not hold a cert back.
	OpRenew = "renew"
	// OpStatus answers the daemon's view of every cert as the result
	// ([]agent.CertStatus, the `certagent status --json` rows).
	OpStatus = "status"
	// OpReload re-reads the configuration; the verdict carries the
	// rejection when it is refused.
	OpReload = "reload"
	// OpRevoke revokes the one cert in Names with Reason (an RFC 5280
	// name) and, unless NoReissue, deploys its replacement, exactly as an
	// in-process `certagent revoke` does (agent.RevokeOnce).
	OpRevoke = "revoke"
)

// Request is the line a client sends.
type Request struct {
	V     int      `json:"v"`
	Op    string   `json:"op"`
	Names []string `json:"names,omitempty"`
	Force bool     `json:"force,omitempty"`
	// Reason and NoReissue are OpRevoke's options.
	Reason    string `json:"reason,omitempty"`
	NoReissue bool   `json:"no_reissue,omitempty"`
	// StateDir is the state_dir of the client's configuration. A daemon
	// with another one serves another configuration (several daemons on
	// one host, each with its own config): it refuses the request with
	// a verdict marked Mismatch and the client works in-process.
	StateDir string `json:"state_dir,omitempty"`
}

// Message types.
const (
	TypeLog     = "log"
	TypeResult  = "result"
	TypeVerdict = "verdict"
)

// Field is one structured key/value of a log record, in logged order.
type Field struct {
	K string `json:"k"`
	V string `json:"v"`
}

// Message is one line the daemon sends; Type says which fields apply.
type Message struct {
	Type string `json:"type"`

	// TypeLog: a log record, as the daemon's journal has it.
	Time   time.Time `json:"time,omitzero"`
	Level  string    `json:"level,omitempty"` // trace, debug, info, warn, error
	Logger string    `json:"logger,omitempty"`
	Msg    string    `json:"msg,omitempty"`
	Fields []Field   `json:"fields,omitempty"`

	// TypeResult: the op's payload.
	Result json.RawMessage `json:"result,omitempty"`

	// TypeVerdict: the exit code the command returns (0 ok, 1 failure,
	// 2 usage: unknown op or cert) and, unless 0, why.
	Exit  int    `json:"exit"`
	Error string `json:"error,omitempty"`
	// Mismatch: the request's StateDir is not this daemon's.
	Mismatch bool `json:"mismatch,omitempty"`
}

// Exit codes carried by a verdict, matching certagent(8).
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

package agent

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
)

// NeedsTokenError is an issuance failure that only a new one-time
// enrollment token can fix. The agent does not retry on a timer: it
// waits until File changes (watched, plus the check_interval backstop),
// so a fleet without tokens makes no requests at all.
type NeedsTokenError struct {
	// File is the token file to watch; empty when the issuer has none.
	File string
	// Reason says why a token is needed.
	Reason string
	// Command makes a new token on the CA host.
	Command string
}

func (e *NeedsTokenError) Error() string {
	where := "set token_file in the issuer and put a new one-time token there"
	if e.File != "" {
		where = "put a new one-time token in " + e.File
	}
	msg := fmt.Sprintf("needs a new enrollment token: %s; %s", e.Reason, where)
	if e.Command != "" {
		msg += " (make one on the CA host with: " + e.Command + ")"
	}
	return msg
}

// KeyRenewer is implemented by issuers that renew with the current key
// (step-ca's mutual TLS renewal): the agent then fills
// Request.CurrentKey when the key on disk matches the cert.
type KeyRenewer interface {
	RenewsWithCurrentKey() bool
}

// tokenWait is the token file a cert waits on and its version when the
// wait began.
type tokenWait struct {
	file  string
	stamp tokenStamp
}

// tokenStamp identifies one version of a token file, so that the agent
// notices a new token however it arrives (rename, rewrite, touch).
type tokenStamp struct {
	exists bool
	ino    uint64
	size   int64
	mtime  time.Time
}

func stampFile(path string) tokenStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return tokenStamp{}
	}
	ts := tokenStamp{exists: true, size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		ts.ino = st.Ino
	}
	return ts
}

// noteNeedsToken records a NeedsTokenError on st; false when err is not one.
func (a *Agent) noteNeedsToken(st *certState, err error) bool {
	var nt *NeedsTokenError
	if !errors.As(err, &nt) {
		return false
	}
	st.needsToken, st.tokenWait = true, &tokenWait{file: nt.File, stamp: stampFile(nt.File)}
	st.retryAt, st.caRetryAt = time.Time{}, time.Time{}
	a.log.Error("waiting for a new enrollment token; old files left in place", "event", "needs_token", "cert", st.name,
		"issuer", st.cfg.Issuer, "token_file", nt.File, "error", err)
	a.emit(certEvent(eventNeedsToken, st, a.clock.Now(), "waiting for a new enrollment token in "+nt.File, err.Error()))
	return true
}

// checkToken ends the wait for a token once the token file changed.
func (a *Agent) checkToken(st *certState) {
	w := st.tokenWait
	if !st.needsToken || w == nil || w.file == "" || stampFile(w.file) == w.stamp {
		return
	}
	st.needsToken, st.tokenWait = false, nil
	a.log.Info("token file changed; trying again", "cert", st.name, "token_file", w.file)
}

// tokenFileOf is the token file to watch for the cert, or "".
func (a *Agent) tokenFileOf(c *config.Cert) string {
	if ic := a.cfg.Issuers[c.Issuer]; ic != nil && ic.Type == "step" {
		return ic.TokenFile
	}
	return ""
}

// currentKey reads the key of the cert on disk for issuers that renew
// with it; nil when it cannot be read or does not match, which makes
// such an issuer fall back to enrollment by token.
func (a *Agent) currentKey(st *certState, leaf *x509.Certificate) crypto.Signer {
	if !a.renewsWithCurrentKey(st) || leaf == nil || st.keyRemoved { // fallback.go
		return nil
	}
	b, err := pki.ReadFileLimited(st.cfg.KeyFile, pki.MaxFileSize)
	if err != nil {
		return nil
	}
	var pw []byte
	if st.cfg.KeyPassword().IsSet() {
		if pw, err = readPassword(st.cfg, st.cfg.KeyPassword(), "key"); err != nil {
			return nil
		}
	}
	key, err := formats.DecodeKey(b, pw)
	if err != nil || !pki.KeyMatches(leaf, key) {
		return nil
	}
	return key
}

// TrustRefresher is implemented by issuers whose trust anchors change
// while certs are valid (step-ca's /roots and /federation during a root
// rotation). CARoots is what ca_file must hold now, from the issuer's
// cache (no request); nil when it does not know yet.
type TrustRefresher interface {
	CARoots() []*x509.Certificate
}

// staleCAFile says why the cert's ca_file no longer holds its issuer's
// roots, or "". The cert is then renewed, which rewrites ca_file in the
// same crash-safe commit and acts on the units as any renewal does.
func (a *Agent) staleCAFile(st *certState) string {
	tr, ok := a.issuers[st.cfg.Issuer].(TrustRefresher)
	if !ok || st.cfg.CAFile == "" || st.leaf == nil || len(st.problems) > 0 {
		return ""
	}
	want := tr.CARoots()
	if len(want) == 0 {
		return ""
	}
	b, err := pki.ReadFileLimited(st.cfg.CAFile, pki.MaxFileSize)
	if err != nil {
		return ""
	}
	have, err := pki.ParseCertsPEM(b)
	if err != nil || !caFileCurrent(st, have, want) { // fallback.go
		return "the issuer's roots changed: ca_file is out of date"
	}
	return ""
}

func sameCertSet(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, x.Equal) {
			return false
		}
	}
	return true
}

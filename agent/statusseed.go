package agent

// Adoption of records written by another process: the failures a previous
// daemon or a one-shot `certagent renew` recorded in status.json. These
// Agent methods read the file and log; certState.adopt and
// certState.dropMootFailure (statetrans.go) decide.

import (
	"errors"
	"os"
	"time"
)

// loadSeed reads what the previous daemon recorded; a missing or
// unreadable status file only means there is nothing to carry over.
func (a *Agent) loadSeed() {
	failing, err := readFailing(a.store.Dir())
	if bad := (*statusDecodeError)(nil); errors.As(err, &bad) {
		a.log.Warn("status file unreadable; starting without the previous failures", "file", bad.path)
	}
	if err != nil {
		return
	}
	a.seed = failing
}

// adoptForeignStatus picks up the failures that a one-shot `certagent
// renew` recorded in status.json while this daemon ran (a rollback, a
// CA's Retry-After): without it the daemon's next write would erase them,
// and with them the backoff that keeps a rolled-back cert from being
// deployed again. It adopts recoveries too: a one-shot that found a cert
// fine clears the failure this daemon had for the same serial, which it
// would otherwise write back as "failed". It runs under the state-dir
// lock, as the one-shot's write did. A stat per pass tells whether the file is still the one
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
	sf, err := ReadStatusFile(a.store.Dir())
	if err != nil {
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

// clearMootFailure forgets a failure made moot by a new valid cert on
// disk (certState.dropMootFailure), and logs it.
func (a *Agent) clearMootFailure(st *certState) {
	if n := st.dropMootFailure(); n > 0 {
		a.log.Info("earlier failure cleared: a new valid certificate is on disk", "cert", st.name,
			"serial", st.leaf.Serial(), "failures", n)
	}
}

// applySeed applies the record adopted for st (certState.adopt), once,
// and logs what it did.
func (a *Agent) applySeed(st *certState, now time.Time) {
	r, ok := a.seed[st.name]
	if !ok {
		return
	}
	delete(a.seed, st.name)
	failures := st.failures
	switch st.adopt(r, now) {
	case adoptedRecovery: // a one-shot renew found the cert fine
		a.log.Info("earlier failure cleared: certagent renew found the certificate fine", "cert", st.name,
			"serial", r.Serial, "failures", failures)
	case adoptedFailure:
		a.log.Info("previous failure carried over", "cert", st.name, "failures", r.Failures, "retry_at", stamp(st.retryAt))
	}
}

package agent

import (
	"crypto/x509"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/safefile"
)

// removeKeysAfterStart deletes the key file of each cert of w that asks
// for it, once the unit is active after its action, and only when no
// other unit of the same cert still waits for its action (that unit has
// not read the new key yet). Called by actOnUnit on an ok verdict.
func (a *Agent) removeKeysAfterStart(w *unitWork, v Verdict) {
	if v.Skipped || v.ActiveState != "active" {
		return
	}
	pending, err := a.store.PendingIntents()
	if err != nil {
		a.log.Error("cannot read pending unit actions; key kept", "error", err)
		return
	}
	for _, name := range w.certs {
		st := a.certs[name]
		if st == nil || !st.cfg.RemoveKeyAfterStart {
			continue
		}
		log := a.log.With("cert", name, "unit", w.unit, "file", st.cfg.KeyFile)
		if other := otherUnitPending(pending, name, w.unit); other != "" {
			log.Debug("key kept until every unit has started", "waiting_for", other)
			continue
		}
		if err := removeKey(a.cfg.Agent.StateDir, st.cfg); err != nil {
			log.Error("cannot remove the key after start", "event", "key_remove_failed", "error", err)
			continue
		}
		st.inspected = time.Time{} // re-read: the key is now gone on purpose
		log.Info("key removed after the unit started, as remove_key_after_start asks", "event", "key_removed")
	}
}

// otherUnitPending returns a unit other than unit that still has a
// pending action for cert, or "".
func otherUnitPending(pending []store.Intent, cert, unit string) string {
	for _, in := range pending {
		if in.Cert == cert && in.Unit != "" && in.Unit != unit && in.Action != actionExec {
			return in.Unit
		}
	}
	return ""
}

// removeKey records the marker for the cert now on disk, then deletes the
// key file and syncs its directory. A crash between the two leaves the
// key in place, which is harmless. The key is resolved as the store
// resolves it for writing (safefile.Resolve): no untrusted link on the
// way is followed, and a symlink at the key is refused unless
// follow_symlinks, which then removes the trusted link's target.
func removeKey(stateDir string, c *config.Cert) error {
	certs, err := readCerts(c.CertFile)
	if err != nil {
		return err
	}
	if err := writeMarker(stateDir, c.Name, serialHex(certs[0])); err != nil {
		return err
	}
	return safefile.RemoveFile(c.KeyFile, c.FollowSymlinks)
}

func readCerts(path string) ([]*x509.Certificate, error) {
	b, err := pki.ReadFileLimited(path, pki.MaxFileSize)
	if err != nil {
		return nil, err
	}
	return pki.ParseCertsPEM(b)
}

// writeMarker writes state_dir/removed-keys/NAME atomically (temp file,
// fsync, rename, fsync dir).
func writeMarker(stateDir, cert, serial string) error {
	d, err := safefile.OpenDir(filepath.Join(stateDir, removedKeysDir), true, 0o700)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(cert, []byte(serial+"\n"), safefile.Private, nil)
}

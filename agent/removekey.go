package agent

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/safefile"
)

// removedKeysDir holds one marker per cert whose key certagent deleted
// on purpose (remove_key_after_start): state_dir/removed-keys/NAME holds
// the serial of the certificate whose key was removed. A missing key is
// damage unless the marker names the certificate on disk.
const removedKeysDir = "removed-keys"

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

// KeyRemovedOnPurpose reports whether certagent deleted cert's key after
// start-up for exactly the certificate leaf (so a key lost otherwise, or
// the key of a newer certificate, is still damage).
func KeyRemovedOnPurpose(stateDir, cert string, leaf *x509.Certificate) bool {
	if leaf == nil {
		return false
	}
	b, err := pki.ReadFileLimited(filepath.Join(stateDir, removedKeysDir, cert), 0)
	return err == nil && strings.TrimSpace(string(b)) == serialHex(leaf)
}

// InspectCert is pki.Inspect for a managed cert with its output formats:
// an encrypted key is decrypted with the configured password when this
// process can read it (otherwise only its form is checked), a key removed
// on purpose is not a problem (keyRemoved reports it), and every other
// output file must exist. pass.go's inspect should call it instead of
// pki.Inspect plus its missing-file loop.
func InspectCert(stateDir string, c *config.Cert, exp pki.Expect, now time.Time) (rep pki.Report, keyRemoved bool) {
	// Through the safe walker: a planted link must not tell whether the
	// root-only file it points to exists (it reads as "not a certificate").
	_, statErr := safefile.Lstat(c.KeyFile)
	keyMissing := errors.Is(statErr, fs.ErrNotExist)
	encrypted := c.KeyPassword().IsSet()
	keyFile := c.KeyFile
	if encrypted || (keyMissing && c.RemoveKeyAfterStart) {
		keyFile = ""
	}
	rep = pki.Inspect(c.CertFile, keyFile, exp, now)
	switch {
	case keyFile != "":
	case keyMissing && c.RemoveKeyAfterStart && KeyRemovedOnPurpose(stateDir, c.Name, rep.Leaf):
		keyRemoved = true
	case keyMissing:
		rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemMissing, File: c.KeyFile, Detail: "file does not exist"})
	default:
		checkEncryptedKey(&rep, c)
	}
	for _, f := range c.OutputFiles() {
		if f == c.KeyFile || f == c.CertFile {
			continue
		}
		_, err := safefile.Lstat(f)
		switch {
		case errors.Is(err, safefile.ErrUntrusted):
			rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemUnreadable, File: f, Detail: pki.ErrNotCertificate.Error()})
		case err != nil:
			rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemMissing, File: f, Detail: f + " is missing"})
		}
	}
	return rep, keyRemoved
}

// checkEncryptedKey checks an encrypted key file: always that it is an
// encrypted PKCS#8 key, and, when the password is readable here, that it
// decrypts and matches the certificate.
func checkEncryptedKey(rep *pki.Report, c *config.Cert) {
	b, err := pki.ReadFileLimited(c.KeyFile, pki.MaxFileSize)
	if err != nil {
		rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemUnreadable, File: c.KeyFile, Detail: err.Error()})
		return
	}
	if !formats.IsEncrypted(b) {
		rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemUnparsable, File: c.KeyFile,
			Detail: "private key is not encrypted, but a key password is configured"})
		return
	}
	pw, err := c.KeyPassword().Read(nil)
	if err != nil {
		return // e.g. `certagent status` from a shell: no credentials here
	}
	key, err := formats.DecodeKey(b, pw)
	switch {
	case err != nil:
		rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemUnparsable, File: c.KeyFile, Detail: err.Error()})
	case rep.Leaf != nil && !pki.KeyMatches(rep.Leaf, key):
		rep.Problems = append(rep.Problems, pki.Problem{Kind: pki.ProblemMismatch, File: c.KeyFile,
			Detail: "private key does not match the certificate's public key"})
	}
}

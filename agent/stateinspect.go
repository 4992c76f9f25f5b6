package agent

// Inspection: what the files on disk say about a cert, a pure function of
// those files and the config. The daemon (pass.go's inspect), a one-shot
// `certagent renew` and `certagent status` (statusdisk.go) all read a
// cert through observeCert; certState.observe applies the result.

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
)

// observation is one reading of a managed cert's files and records.
type observation struct {
	leaf       *leafSummary
	problems   []pki.Problem
	keyRemoved bool // see certState.keyRemoved
	revoked    *revocationRecord
}

// observeCert reads the files of c, checks them against the config (and
// against roots, the issuer's trust anchors, when known) and reads its
// revocation record. It changes nothing on disk and contacts no issuer.
func observeCert(cfg *config.Config, c *config.Cert, roots []*x509.Certificate, now time.Time) observation {
	rep, keyRemoved := InspectCert(cfg.Agent.StateDir, c, expectFor(cfg, c, roots), now)
	return observation{leaf: summarize(rep.Leaf), problems: rep.Problems, keyRemoved: keyRemoved,
		revoked: readRevocation(cfg.Agent.StateDir, c.Name)}
}

// observeWatch reads a watch-only pair's files. Nothing is repaired:
// certagent does not manage them.
func observeWatch(cfg *config.Config, w *config.Watch, now time.Time) pki.Report {
	return pki.Inspect(w.CertFile, w.KeyFile, pki.Expect{MinRSABits: cfg.Agent.MinRSABits}, now)
}

// serialHex is how certagent writes a serial: in status rows, logs, hook
// environments and its own records.
func serialHex(c *x509.Certificate) string {
	if c == nil || c.SerialNumber == nil {
		return ""
	}
	return fmt.Sprintf("%x", c.SerialNumber)
}

// removedKeysDir holds one marker per cert whose key certagent deleted
// on purpose (remove_key_after_start): state_dir/removed-keys/NAME holds
// the serial of the certificate whose key was removed. A missing key is
// damage unless the marker names the certificate on disk. removeKey
// (removekey.go) writes the marker; inspection reads it.
const removedKeysDir = "removed-keys"

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
// output file must exist. observeCert calls it; `certagent check` too.
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

// crlFileProblem is what `certagent status` (without the daemon) finds
// wrong with a crl_file on disk: missing, unreadable, not a CRL, or past
// its nextUpdate. Empty when fine or when the cert has none.
func crlFileProblem(c *config.Cert, now time.Time) string {
	if c.CRLFile == "" {
		return ""
	}
	b, err := pki.ReadFileLimited(c.CRLFile, pki.MaxFileSize)
	if err != nil {
		return fmt.Sprintf("crl_file %s: %v", c.CRLFile, err)
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "X509 CRL" {
		return fmt.Sprintf("crl_file %s holds no PEM X509 CRL", c.CRLFile)
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		return fmt.Sprintf("crl_file %s: not a valid X.509 CRL: %v", c.CRLFile, err)
	}
	if !crl.NextUpdate.IsZero() && !now.Before(crl.NextUpdate) {
		return fmt.Sprintf("crl_file %s expired at %s", c.CRLFile, stamp(crl.NextUpdate))
	}
	return ""
}

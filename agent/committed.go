package agent

import (
	"crypto/x509"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/safefile"
)

// observeCommitted is observeCert for a cert whose set of files, files,
// this process has just committed (groupCommit): the cert and key are
// checked from the bytes written rather than read back, which at 10,000
// certs was a fifth of a pass's CPU (a walk from / per file, the reads,
// the parses). The result is the one a re-read at the commit gives: the
// commit put exactly these bytes at these paths (or found them there
// already), and pki.InspectData checks bytes as pki.Inspect checks what
// it reads. A change by someone else after the commit is as if it came
// after a re-read: the watcher reports it, as it does then. Whatever the
// bytes alone cannot tell (an encrypted key, an output file not in the
// set, a file too large for Inspect) goes to observeCert. v, when not
// nil, spares the check of the leaf's signature that the in-process
// signer has already made (pki.Vouched); walk, when not nil, finds the
// (usual) absence of a revocation record with one fstatat.
func observeCommitted(cfg *config.Config, c *config.Cert, files []store.File, roots []*x509.Certificate, v *pki.Vouched, walk *safefile.Walker, now time.Time) observation {
	certData, keyData, ok := committedPair(c, files)
	if !ok {
		return observeCert(cfg, c, roots, now)
	}
	exp := expectFor(cfg, c, roots)
	exp.Vouched = v
	rep := pki.InspectData(c.CertFile, certData, c.KeyFile, keyData, exp, now)
	return observation{leaf: summarize(rep.Leaf), problems: rep.Problems,
		revoked: readRevocationVia(walk, cfg.Agent.StateDir, c.Name)}
}

// committedPair returns the bytes of c's cert and key files in files when
// the set holds every output file of c, the key is not encrypted and
// neither is larger than Inspect reads.
func committedPair(c *config.Cert, files []store.File) (certData, keyData []byte, ok bool) {
	if c.KeyPassword().IsSet() {
		return nil, nil, false
	}
	data := make(map[string][]byte, len(files))
	for _, f := range files {
		data[f.Path] = f.Data
	}
	for _, p := range c.OutputFiles() {
		if _, in := data[p]; !in {
			return nil, nil, false
		}
	}
	certData, keyData = data[c.CertFile], data[c.KeyFile]
	if len(certData) > pki.MaxFileSize || len(keyData) > pki.MaxFileSize {
		return nil, nil, false
	}
	return certData, keyData, true
}

// expectFor is what inspection checks c's files against; roots are its
// issuer's trust anchors when known.
func expectFor(cfg *config.Config, c *config.Cert, roots []*x509.Certificate) pki.Expect {
	return pki.Expect{
		DNSNames:   c.DNSNames,
		IPs:        c.IPs,
		KeyType:    pki.KeyType(c.KeyType),
		Roots:      roots,
		MinRSABits: cfg.Agent.MinRSABits,
	}
}

package localca

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/failpoint"
	"github.com/certagent/certagent/internal/safefile"
)

// Files of a rotation under way, in the CA directory next to ca.*. The
// swap at the end copies each over its ca.* counterpart.
const (
	NextKeyFile     = "next.key"
	NextCertFile    = "next.crt"
	nextRevokedFile = "next-revoked.json"
	nextCRLFile     = "next-crl.pem"
)

var _ agent.CARotator = (*CA)(nil)

// slot names the files of one CA generation: its key and certificate,
// and its own revocation list and CRL (a CRL must be signed by the CA
// that issued the leaves it lists).
type slot struct{ key, cert, list, crl string }

var (
	curSlot  = slot{KeyFile, CertFile, RevokedFile, CRLFile}
	nextSlot = slot{NextKeyFile, NextCertFile, nextRevokedFile, nextCRLFile}
)

// pair is one CA generation, loaded.
type pair struct {
	s    slot
	key  crypto.Signer
	cert *x509.Certificate
}

// view is what the CA does now: which pair signs leaves, which pairs'
// leaves may still be in use (revocations, CRLs), and what ca_file holds.
type view struct {
	rec   *agent.CARotation // nil when no rotation is under way
	sign  pair
	pairs []pair // sign first
	roots []*x509.Certificate
}

// view loads the CA as the rotation record (if any) says, creating the
// CA when neither it nor a rotation exists.
func (c *CA) view(ctx context.Context) (*view, error) {
	c.mu.Lock()
	v, err := c.rotationView()
	c.mu.Unlock()
	if err != nil || v != nil {
		return v, err
	}
	key, cert, err := c.load(ctx)
	if err != nil {
		return nil, err
	}
	p := pair{curSlot, key, cert}
	return &view{sign: p, pairs: []pair{p}, roots: []*x509.Certificate{cert}}, nil
}

// rotationView reads the record and both generations from disk (another
// process may have moved the rotation on); nil when none is under way.
// The caller holds c.mu.
func (c *CA) rotationView() (*view, error) {
	rec, err := c.readRecord()
	if err != nil || rec == nil {
		return nil, err
	}
	c.key, c.cert = nil, nil // the swap replaces ca.*: never serve a stale cache
	readGen := func(s slot, serial string) (pair, error) {
		k, crt, err := c.readPair(s.key, s.cert)
		if err != nil {
			return pair{}, err
		}
		if serial != "" && crt.SerialNumber.Text(16) != serial {
			return pair{}, fmt.Errorf("local ca %q: %s (serial %s) is not the ca the rotation record %s names (%s); restore it", c.name, s.cert, crt.SerialNumber.Text(16), agent.CARotationFile, serial)
		}
		return pair{s, k, crt}, nil
	}
	v := &view{rec: rec}
	switch rec.Phase {
	case agent.PhasePublish, agent.PhaseReissue, agent.PhaseRetire:
		old, err := readGen(curSlot, rec.OldSerial)
		if err != nil {
			return nil, err
		}
		nw, err := readGen(nextSlot, rec.NewSerial)
		if err != nil {
			return nil, err
		}
		rec.Old, rec.New = old.cert, nw.cert
		switch rec.Phase {
		case agent.PhasePublish: // new leaves only once every bundle has both roots
			v.sign, v.pairs, v.roots = old, []pair{old, nw}, []*x509.Certificate{old.cert, nw.cert}
		case agent.PhaseReissue:
			v.sign, v.pairs, v.roots = nw, []pair{nw, old}, []*x509.Certificate{nw.cert, old.cert}
		default: // retire: the old key still signs its CRL until it is deleted
			v.sign, v.pairs, v.roots = nw, []pair{nw, old}, []*x509.Certificate{nw.cert}
		}
	case agent.PhaseSwap:
		nw, err := readGen(nextSlot, rec.NewSerial)
		if err != nil {
			return nil, err
		}
		rec.New = nw.cert
		v.sign, v.pairs, v.roots = nw, []pair{nw}, []*x509.Certificate{nw.cert}
	case agent.PhaseCleanup:
		cur, err := readGen(curSlot, rec.NewSerial)
		if err != nil {
			return nil, err
		}
		rec.New = cur.cert
		v.sign, v.pairs, v.roots = cur, []pair{cur}, []*x509.Certificate{cur.cert}
	default:
		return nil, fmt.Errorf("local ca %q: %s names an unknown phase %q", c.name, filepath.Join(c.dir, agent.CARotationFile), rec.Phase)
	}
	return v, nil
}

// issuerOf is the pair of v that signed leaf, or nil.
func (v *view) issuerOf(leaf *x509.Certificate) *pair {
	for i := range v.pairs {
		if leaf.CheckSignatureFrom(v.pairs[i].cert) == nil {
			return &v.pairs[i]
		}
	}
	return nil
}

// Rotation returns the rotation under way with both CA certs, or nil.
func (c *CA) Rotation(ctx context.Context) (*agent.CARotation, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v, err := c.rotationView()
	if err != nil || v == nil {
		return nil, err
	}
	return v.rec, nil
}

// CACert is the certificate leaves come from now, or nil when the CA
// does not exist yet.
func (c *CA) CACert(ctx context.Context) (*x509.Certificate, error) {
	rec, err := c.Rotation(ctx)
	switch {
	case err != nil:
		return nil, err
	case rec != nil && rec.Phase == agent.PhasePublish:
		return rec.Old, nil
	case rec != nil:
		return rec.New, nil
	}
	rs, err := c.ExistingRoots(ctx)
	if err != nil || len(rs) == 0 {
		return nil, err
	}
	return rs[0], nil
}

// StartRotation makes a new CA key and certificate as next.key and
// next.crt, then records the publish phase. A crash before the record
// leaves stray next.* files that nothing trusts and the next start
// replaces.
func (c *CA) StartRotation(ctx context.Context, req agent.RotationStart) (*agent.CARotation, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, err := c.rotationView(); err != nil || v != nil {
		if err != nil {
			return nil, err
		}
		return v.rec, nil
	}
	_, oldCert, err := c.readExisting()
	if errors.Is(err, errNoCA) {
		return nil, fmt.Errorf("local ca %q: the ca does not exist yet; there is nothing to rotate", c.name)
	}
	if err != nil {
		return nil, err
	}
	kt, cn, validity, err := c.caSettings()
	if err != nil {
		return nil, err
	}
	key, err := generateKey(ctx, kt)
	if err != nil {
		return nil, fmt.Errorf("local ca %q: generate %s key: %w", c.name, kt, err)
	}
	cert, err := c.selfSign(key, cn, validity)
	if err != nil {
		return nil, err
	}
	keyPEM, err := pki.EncodeKeyPEM(key, pki.FormatPKCS8)
	if err != nil {
		return nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	err = c.inDir(func(d *safefile.Dir) error {
		for _, n := range []string{nextRevokedFile, nextCRLFile} { // of an aborted start
			if err := d.Remove(n); err != nil {
				return err
			}
		}
		if err := d.Replace(NextKeyFile, keyPEM, safefile.Private, nil); err != nil {
			return err
		}
		failpoint.Hit("rotation-after-next-key")
		return d.Replace(NextCertFile, pki.EncodeCertsPEM(cert), safefile.Private, nil)
	})
	if err != nil {
		return nil, err
	}
	failpoint.Hit("rotation-before-record")
	rec := &agent.CARotation{Phase: agent.PhasePublish, Reason: req.Reason, StartedAt: c.now().UTC().Truncate(time.Second),
		Overlap: agent.Seconds(req.Overlap / time.Second), OldSerial: oldCert.SerialNumber.Text(16),
		NewSerial: cert.SerialNumber.Text(16), KeepOldKey: req.KeepOldKey}
	if err := c.writeRecord(rec); err != nil {
		return nil, err
	}
	rec.Old, rec.New = oldCert, cert
	return rec, nil
}

// readRecord reads rotation.json; nil when no rotation is under way.
func (c *CA) readRecord() (*agent.CARotation, error) {
	rec, err := agent.ReadCARotationFile(filepath.Join(c.dir, agent.CARotationFile))
	if err != nil {
		return nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	return rec, nil
}

// writeRecord replaces rotation.json atomically: each phase transition
// is this one rename.
func (c *CA) writeRecord(rec *agent.CARotation) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return c.writeFile(agent.CARotationFile, append(b, '\n'))
}

// inDir runs fn on the CA directory, opened without following links.
func (c *CA) inDir(fn func(d *safefile.Dir) error) error {
	d, err := safefile.OpenDir(c.dir, false, 0)
	if err != nil {
		return fmt.Errorf("local ca %q: %w", c.name, err)
	}
	defer d.Close()
	if err := fn(d); err != nil {
		return fmt.Errorf("local ca %q: %w", c.name, err)
	}
	return nil
}

// readIn reads a file of the CA directory; ok is false when it is absent.
func (c *CA) readIn(name string) (data []byte, ok bool, err error) {
	b, err := pki.ReadFileLimited(filepath.Join(c.dir, name), pki.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	return b, err == nil, err
}

// OtherCRLs returns, during a rotation, the CRL of the generation that
// did not sign leaf (the old CA signs its own until its key is deleted);
// none outside a rotation.
func (c *CA) OtherCRLs(ctx context.Context, leaf *x509.Certificate) ([][]byte, error) {
	v, err := c.view(ctx)
	if err != nil || len(v.pairs) < 2 {
		return nil, err
	}
	mine := &v.sign
	if leaf != nil {
		if q := v.issuerOf(leaf); q != nil {
			mine = q
		}
	}
	var out [][]byte
	for _, p := range v.pairs {
		if p.cert == mine.cert {
			continue
		}
		der, err := c.crlOf(p)
		if err != nil {
			return nil, err
		}
		out = append(out, der)
	}
	return out, nil
}

var _ agent.CRLBundler = (*CA)(nil)

package localca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"path/filepath"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
)

// Files of the revocation list inside the CA directory.
const (
	// RevokedFile is the revocation list: every revoked serial and the
	// number of the last CRL signed.
	RevokedFile = "revoked.json"
	// CRLFile is the current signed CRL (PEM).
	CRLFile = "crl.pem"
	// DefaultCRLValidity is the CRL's nextUpdate - thisUpdate when the
	// issuer sets no crl_validity.
	DefaultCRLValidity = 7 * 24 * time.Hour
)

var (
	_ agent.Revoker   = (*CA)(nil)
	_ agent.CRLSource = (*CA)(nil)
)

// revocation is one revoked serial.
type revocation struct {
	Serial    string    `json:"serial"` // lowercase hex
	Reason    int       `json:"reason"` // RFC 5280 CRLReason code
	RevokedAt time.Time `json:"revoked_at"`
	// NotAfter is the revoked cert's expiry: once past, the entry leaves
	// the CRL (RFC 5280 5.1.2.6 allows it; no peer accepts that cert).
	NotAfter time.Time `json:"not_after"`
}

// revList is RevokedFile. CRLNumber is the number of the last CRL signed
// (or about to be): it is written before that CRL, so a crash between
// the two makes the next CRL skip a number, never repeat one.
type revList struct {
	CRLNumber int64        `json:"crl_number"`
	Revoked   []revocation `json:"revoked"`
}

// Revoke records req.Cert's serial in the revocation list and re-signs
// the CRL at once. The list is written (atomically) before the CRL, so a
// crash in between leaves a list that the next CRL call signs. A serial
// already listed is success.
func (c *CA) Revoke(ctx context.Context, req agent.RevokeRequest) error {
	if req.Cert == nil {
		return fmt.Errorf("local ca %q: cert %q: nothing to revoke", c.name, req.Name)
	}
	v, err := c.view(ctx)
	if err != nil {
		return err
	}
	serial := req.Cert.SerialNumber.Text(16)
	p := v.issuerOf(req.Cert)
	if p == nil {
		return fmt.Errorf("local ca %q: cert %q (serial %s) was not issued by this ca: %w", c.name, req.Name, serial, req.Cert.CheckSignatureFrom(v.sign.cert))
	}
	// During a rotation each generation has its own list and CRL.
	key, caCert, s := p.key, p.cert, p.s
	c.crlMu.Lock()
	defer c.crlMu.Unlock()
	list, err := c.readList(s)
	if err != nil {
		return err
	}
	for _, r := range list.Revoked {
		if r.Serial == serial {
			_, err := c.currentCRL(s, key, caCert, list)
			return err
		}
	}
	list.Revoked = append(list.Revoked, revocation{Serial: serial, Reason: int(req.Reason),
		RevokedAt: c.now().UTC().Truncate(time.Second), NotAfter: req.Cert.NotAfter.UTC()})
	_, err = c.resign(s, key, caCert, list)
	return err
}

// CRL returns the DER of the CA's current CRL, re-signing it first when
// it is missing, older than the list, or past half its validity. The
// local CA has one CRL for all its leaves; during a rotation, the one of
// the generation that signed leaf (the old CA keeps signing its own
// until its key is deleted). chain is not needed.
func (c *CA) CRL(ctx context.Context, leaf *x509.Certificate, _ []*x509.Certificate) ([]byte, error) {
	v, err := c.view(ctx)
	if err != nil {
		return nil, err
	}
	p := &v.sign
	if leaf != nil {
		if q := v.issuerOf(leaf); q != nil {
			p = q
		}
	}
	return c.crlOf(*p)
}

// crlOf is the current CRL of one generation.
func (c *CA) crlOf(p pair) ([]byte, error) {
	c.crlMu.Lock()
	defer c.crlMu.Unlock()
	list, err := c.readList(p.s)
	if err != nil {
		return nil, err
	}
	return c.currentCRL(p.s, p.key, p.cert, list)
}

// currentCRL returns crl.pem when it is the CRL of list and fresh, or
// signs a new one.
func (c *CA) currentCRL(s slot, key crypto.Signer, caCert *x509.Certificate, list *revList) ([]byte, error) {
	if der, ok := c.freshCRL(s, caCert, list); ok {
		return der, nil
	}
	return c.resign(s, key, caCert, list)
}

// freshCRL reads crl.pem and reports whether it can be served as is.
func (c *CA) freshCRL(s slot, caCert *x509.Certificate, list *revList) ([]byte, bool) {
	b, err := pki.ReadFileLimited(filepath.Join(c.dir, s.crl), pki.MaxFileSize)
	if err != nil {
		return nil, false
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "X509 CRL" {
		return nil, false
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil || crl.CheckSignatureFrom(caCert) != nil || crl.Number == nil || crl.Number.Int64() != list.CRLNumber {
		return nil, false
	}
	now := c.now()
	half := crl.ThisUpdate.Add(crl.NextUpdate.Sub(crl.ThisUpdate) / 2)
	if !now.Before(half) || now.Before(crl.ThisUpdate) {
		return nil, false
	}
	return block.Bytes, true
}

// resign bumps the CRL number, writes the list, then signs and writes
// the CRL. Entries of certs that have expired are dropped.
func (c *CA) resign(s slot, key crypto.Signer, caCert *x509.Certificate, list *revList) ([]byte, error) {
	now := c.now()
	kept := list.Revoked[:0:0]
	for _, r := range list.Revoked {
		if r.NotAfter.IsZero() || now.Before(r.NotAfter) {
			kept = append(kept, r)
		}
	}
	list.Revoked = kept
	list.CRLNumber++
	if err := c.writeState(s.list, list); err != nil {
		return nil, err
	}
	validity := c.cfg.CRLValidity.Duration
	if validity <= 0 {
		validity = DefaultCRLValidity
	}
	tmpl := &x509.RevocationList{
		Number: big.NewInt(list.CRLNumber),
		// Back-dated like the leaves, for peers whose clocks run behind.
		ThisUpdate: now.Add(-backdate(validity)),
		NextUpdate: now.Add(validity),
	}
	for _, r := range list.Revoked {
		sn, ok := new(big.Int).SetString(r.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("local ca %q: %s: bad serial %q", c.name, s.list, r.Serial)
		}
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: sn, RevocationTime: r.RevokedAt, ReasonCode: r.Reason})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, caCert, key)
	if err != nil {
		return nil, fmt.Errorf("local ca %q: sign crl: %w", c.name, err)
	}
	if err := c.writeFile(s.crl, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})); err != nil {
		return nil, err
	}
	return der, nil
}

// readList reads revoked.json; a missing file is an empty list.
func (c *CA) readList(s slot) (*revList, error) {
	b, err := pki.ReadFileLimited(filepath.Join(c.dir, s.list), pki.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return &revList{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	var l revList
	if err := json.Unmarshal(b, &l); err != nil {
		// Never start over: an empty list would un-revoke every serial.
		return nil, fmt.Errorf("local ca %q: %s is damaged (%v); restore it from a backup", c.name, filepath.Join(c.dir, s.list), err)
	}
	return &l, nil
}

func (c *CA) writeState(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return c.writeFile(name, append(b, '\n'))
}

// writeFile atomically replaces a file of the CA directory (safefile:
// temp, fsync, rename, fsync dir; no untrusted link followed).
func (c *CA) writeFile(name string, data []byte) error {
	d, err := safefile.OpenDir(c.dir, false, 0)
	if err != nil {
		return fmt.Errorf("local ca %q: %w", c.name, err)
	}
	defer d.Close()
	if err := d.Replace(name, data, safefile.Private, nil); err != nil {
		return fmt.Errorf("local ca %q: %w", c.name, err)
	}
	return nil
}

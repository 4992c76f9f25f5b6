package agent

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"time"
)

// CRLBundler is implemented by issuers whose leaves may come from two
// CAs at once (a local CA during its rotation). OtherCRLs returns the
// current CRLs of the CAs other than the one that signed leaf whose
// leaves may still be in use; none outside a rotation.
type CRLBundler interface {
	OtherCRLs(ctx context.Context, leaf *x509.Certificate) ([][]byte, error)
}

// overlapCRLs are the PEM blocks a crl_file carries besides the CRL of
// st's own CA during a rotation, so that a peer checking leaves of
// either CA with `openssl verify -crl_check` finds the CRL of each. A
// CRL that fails the checks is left out and logged, never written.
func (a *Agent) overlapCRLs(ctx context.Context, src CRLSource, st *certState, roots []*x509.Certificate, now time.Time) []byte {
	b, ok := src.(CRLBundler)
	if !ok {
		return nil
	}
	leaf, chain, err := rereadLeaf(st)
	var ders [][]byte
	if err == nil {
		ders, err = b.OtherCRLs(ctx, leaf)
	}
	if err != nil {
		a.log.Warn("cannot get the other ca's CRL during the rotation", "cert", st.name, "error", err)
		return nil
	}
	var out []byte
	for _, der := range ders {
		crl, err := x509.ParseRevocationList(der)
		if err == nil && !crlSignedByOne(crl, issuerCandidates(st, chain, roots, now)) {
			err = errors.New("not signed by a root of the issuer")
		}
		if err == nil && !crl.NextUpdate.IsZero() && !now.Before(crl.NextUpdate) {
			err = errors.New("expired")
		}
		if err != nil {
			a.log.Warn("the other ca's CRL is left out", "cert", st.name, "error", err)
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})...)
	}
	return out
}

func crlSignedByOne(crl *x509.RevocationList, certs []*x509.Certificate) bool {
	for _, c := range certs {
		if bytes.Equal(crl.RawIssuer, c.RawSubject) && crl.CheckSignatureFrom(c) == nil {
			return true
		}
	}
	return false
}

// crlCount is the number of PEM CRL blocks in b.
func crlCount(b []byte) int { return bytes.Count(b, []byte("-----BEGIN X509 CRL-----")) }

// otherCRLsNotOlder: every CRL block of ours has a counterpart in disk
// from the same CA (authority key id), signed by one of candidates, with
// a number at least as high; a file carrying two CAs' CRLs is adopted
// only then, or a revocation by the CA of the second block is lost.
func otherCRLsNotOlder(disk, ours []byte, candidates []*x509.Certificate) bool {
	d, o := parseCRLBlocks(disk), parseCRLBlocks(ours)
	for _, oc := range o {
		found := false
		for _, dc := range d {
			if bytes.Equal(dc.AuthorityKeyId, oc.AuthorityKeyId) && dc.Number != nil && oc.Number != nil &&
				dc.Number.Cmp(oc.Number) >= 0 && crlSignedByOne(dc, candidates) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func parseCRLBlocks(b []byte) []*x509.RevocationList {
	var out []*x509.RevocationList
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out
		}
		if crl, err := x509.ParseRevocationList(blk.Bytes); err == nil {
			out = append(out, crl)
		}
	}
}

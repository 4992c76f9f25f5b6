package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"time"
)

// Expect is what a cert on disk must satisfy. Zero fields skip their check.
type Expect struct {
	// DNSNames and IPs must all be covered by the leaf's SANs.
	DNSNames []string
	IPs      []net.IP
	// KeyType is the configured key type; "" accepts any.
	KeyType KeyType
	// Roots are the issuer's trust anchors; nil skips the issuer check.
	// A non-nil empty slice means "no cert can be from this issuer yet".
	Roots []*x509.Certificate
	// MinRSABits is the policy floor for RSA leaf keys; 0 skips it.
	MinRSABits int
	// AllowedKeyTypes restricts the leaf key type; empty allows any.
	AllowedKeyTypes []KeyType
	// Vouched, when not nil, states that one leaf's signature was
	// already checked against one CA cert's key (see Vouched); the
	// issuer check then spares that signature check when it can.
	Vouched *Vouched
}

// ProblemKind classifies what is wrong with a pair on disk. The values
// are stable: they appear in `certagent check --files` and status output.
type ProblemKind string

// The problem kinds Inspect reports.
const (
	ProblemMissing     ProblemKind = "missing"
	ProblemUnreadable  ProblemKind = "unreadable"
	ProblemUnparsable  ProblemKind = "unparsable"
	ProblemMismatch    ProblemKind = "mismatch"
	ProblemExpired     ProblemKind = "expired"
	ProblemNotYetValid ProblemKind = "not_yet_valid"
	ProblemSANs        ProblemKind = "sans"
	ProblemKeyType     ProblemKind = "key_type"
	ProblemIssuer      ProblemKind = "issuer"
	ProblemWeakKey     ProblemKind = "weak_key"
	ProblemSHA1        ProblemKind = "sha1"
	ProblemChainOrder  ProblemKind = "chain_order"
)

// Problem is one finding. Detail is lowercase, human readable and never
// contains key material.
type Problem struct {
	Kind   ProblemKind
	File   string
	Detail string
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.File, p.Kind, p.Detail) }

// Report is the result of Inspect. Leaf, Chain and KeyType are filled
// whenever the cert file parsed, even if there are problems.
type Report struct {
	Leaf     *x509.Certificate
	Chain    []*x509.Certificate
	KeyType  KeyType
	Problems []Problem
	// Reads are the files read (the cert file, then the key file), each
	// with the Stamp of the version read: a cache of this Report holds
	// while each file's Stamp is unchanged.
	Reads []Read
}

// OK reports whether no problem was found.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Has reports whether a problem of kind k was found.
func (r Report) Has(k ProblemKind) bool {
	return slices.ContainsFunc(r.Problems, func(p Problem) bool { return p.Kind == k })
}

// Inspect checks the cert (leaf first, then its chain) in certFile and
// the private key in keyFile ("" for certs watched without their key)
// against exp at time now. It reports every problem it finds rather than
// stopping at the first, and never logs.
func Inspect(certFile, keyFile string, exp Expect, now time.Time) Report {
	var r Report
	certs := r.readCerts(certFile)
	var key crypto.Signer
	if keyFile != "" {
		key = r.readKey(keyFile)
	}
	return r.check(certFile, certs, keyFile, key, exp, now)
}

// InspectData is Inspect of files whose contents the caller holds:
// certData is what certFile holds and keyData what keyFile holds (keyFile
// "" for no key). Inspect reads the files and checks them exactly so, so
// for bytes the caller has just written to those paths the two agree.
// Files larger than MaxFileSize are not certificates for Inspect; the
// caller must leave those to it.
func InspectData(certFile string, certData []byte, keyFile string, keyData []byte, exp Expect, now time.Time) Report {
	var r Report
	certs := r.parseCerts(certFile, certData)
	var key crypto.Signer
	if keyFile != "" {
		key = r.parseKey(keyFile, keyData)
	}
	return r.check(certFile, certs, keyFile, key, exp, now)
}

// check is Inspect once the files are read (certs nil: unreadable).
func (r Report) check(certFile string, certs []*x509.Certificate, keyFile string, key crypto.Signer, exp Expect, now time.Time) Report {
	if len(certs) == 0 {
		return r
	}
	r.Leaf, r.Chain = certs[0], certs[1:]
	r.KeyType, _ = KeyTypeOf(r.Leaf.PublicKey)

	if key != nil && !KeyMatches(r.Leaf, key) {
		r.add(ProblemMismatch, keyFile, "private key does not match the certificate's public key")
		for i, c := range r.Chain {
			if KeyMatches(c, key) {
				r.add(ProblemChainOrder, certFile, fmt.Sprintf("the certificate matching the key is number %d in the file; the leaf must come first", i+2))
			}
		}
	}
	timeBad := r.checkTimes(certFile, certs, now)
	r.checkSANs(certFile, exp)
	r.checkKeyPolicy(certFile, exp)
	r.checkSignatures(certFile, certs)
	r.checkOrder(certFile, certs)
	if exp.Roots != nil {
		r.checkIssuer(certFile, exp, now, timeBad)
	}
	return r
}

func (r *Report) add(k ProblemKind, file, detail string) {
	r.Problems = append(r.Problems, Problem{Kind: k, File: file, Detail: detail})
}

// readProblem turns a ReadFileLimited error into a problem.
func (r *Report) readProblem(file string, err error) {
	var pe *fs.PathError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		r.add(ProblemMissing, file, "file does not exist")
	case errors.As(err, &pe):
		r.add(ProblemUnreadable, file, fmt.Sprintf("cannot %s: %v", pe.Op, pe.Err))
	default:
		r.add(ProblemUnreadable, file, strings.TrimPrefix(err.Error(), file+": "))
	}
}

func (r *Report) readCerts(file string) []*x509.Certificate {
	b, stamp, err := readFileStamped(file, MaxFileSize)
	if err != nil {
		r.readProblem(file, err)
		return nil
	}
	r.Reads = append(r.Reads, Read{File: file, Stamp: stamp})
	return r.parseCerts(file, b)
}

func (r *Report) parseCerts(file string, b []byte) []*x509.Certificate {
	certs, err := ParseCertsPEM(b)
	if err != nil {
		r.add(ProblemUnparsable, file, err.Error())
		return nil
	}
	return certs
}

func (r *Report) readKey(file string) crypto.Signer {
	b, stamp, err := readFileStamped(file, MaxFileSize)
	if err != nil {
		r.readProblem(file, err)
		return nil
	}
	r.Reads = append(r.Reads, Read{File: file, Stamp: stamp})
	return r.parseKey(file, b)
}

func (r *Report) parseKey(file string, b []byte) crypto.Signer {
	key, err := ParseKeyPEM(b)
	if err != nil {
		r.add(ProblemUnparsable, file, err.Error())
		return nil
	}
	return key
}

package stepca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
)

// TrustFile is the issuer's trust state in state_dir/step/<issuer>/.
const TrustFile = "trust.json"

// RefreshEvery is how often the trusted set is refreshed from /roots and
// /federation when no renewal does it sooner.
const RefreshEvery = 24 * time.Hour

// trustState is what the issuer trusts, as kept in TrustFile. Roots is
// step-ca's `root` list: the only anchors for verifying step-ca's TLS
// (step-ca's mTLS trusts only that list too). Federation adds the roots
// step-ca federates with; both go to ca_file.
type trustState struct {
	// Anchor is what the set was bootstrapped from (see anchorOf), so a
	// changed root_fingerprint or root_file bootstraps again.
	Anchor        string    `json:"anchor"`
	CAURL         string    `json:"ca_url"`
	Roots         []string  `json:"roots"`
	Federation    []string  `json:"federation,omitempty"`
	Intermediates []string  `json:"intermediates,omitempty"`
	RefreshedAt   time.Time `json:"refreshed_at"`

	roots, federation, intermediates []*x509.Certificate
}

func (t *trustState) parse() error {
	var err error
	for _, f := range []struct {
		pems []string
		out  *[]*x509.Certificate
	}{{t.Roots, &t.roots}, {t.Federation, &t.federation}, {t.Intermediates, &t.intermediates}} {
		if *f.out, err = parsePEMs(f.pems); err != nil {
			return err
		}
	}
	if len(t.roots) == 0 {
		return errors.New("no roots")
	}
	return nil
}

// caFile is what ca_file gets: the roots, then the federated roots not
// already among them.
func (t *trustState) caFile() []*x509.Certificate {
	out := append([]*x509.Certificate{}, t.roots...)
	for _, c := range t.federation {
		if !slices.ContainsFunc(out, c.Equal) {
			out = append(out, c)
		}
	}
	return out
}

func pemStrings(cs []*x509.Certificate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = string(pki.EncodeCertsPEM(c))
	}
	return out
}

// loadTrust reads TrustFile; nil without error when there is none yet.
func (i *Issuer) loadTrust() (*trustState, error) {
	path := filepath.Join(i.dir, TrustFile)
	b, err := pki.ReadFileLimited(path, pki.MaxFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var t trustState
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := t.parse(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

// saveTrust replaces TrustFile crash-safely.
func (i *Issuer) saveTrust(t *trustState) error {
	t.Roots, t.Federation, t.Intermediates = pemStrings(t.roots), pemStrings(t.federation), pemStrings(t.intermediates)
	b, err := json.MarshalIndent(t, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(i.dir, 0o700); err != nil {
		return err
	}
	return writeAtomic(filepath.Join(i.dir, TrustFile), b)
}

// anchorOf names the configured trust anchor: the fingerprint, the
// root file's fingerprint, or "token" (the root a token carries).
func (i *Issuer) anchorOf() (string, *x509.Certificate, error) {
	switch {
	case i.cfg.RootFingerprint != "":
		return "sha256:" + i.cfg.RootFingerprint, nil, nil
	case i.cfg.RootFile != "":
		b, err := pki.ReadFileLimited(i.cfg.RootFile, pki.MaxFileSize)
		if err != nil {
			return "", nil, fmt.Errorf("root_file: %w", err)
		}
		cs, err := pki.ParseCertsPEM(b)
		if err != nil {
			return "", nil, fmt.Errorf("root_file %s: %w", i.cfg.RootFile, err)
		}
		return "sha256:" + fingerprint(cs[0]), cs[0], nil
	}
	return "token", nil, nil
}

// bootstrap finds the first root: from root_file, from the token's root
// (OpenFL), or by fetching /root/<fingerprint> and checking its hash. The
// fingerprint is root_fingerprint, else the one step puts in its tokens.
func (i *Issuer) bootstrap(ctx context.Context, tok *enrollToken, tokErr error) (*trustState, error) {
	anchor, root, err := i.anchorOf()
	if err != nil {
		return nil, err
	}
	fp := i.cfg.RootFingerprint
	if root == nil && fp == "" {
		switch {
		case tok == nil:
			// trusted adds the file and the command.
			return nil, &agent.NeedsTokenError{Reason: "no root_fingerprint or root_file is set, so the root comes from the token, and " + tokErr.Error()}
		case tok.root != nil:
			root = tok.root
		case tok.sha != "":
			fp = tok.sha
		default:
			return nil, fmt.Errorf("the token carries no root: set root_fingerprint or root_file in [issuers.%s]", i.name)
		}
	}
	if root == nil {
		if root, err = i.fetchRoot(ctx, fp); err != nil {
			return nil, err
		}
	}
	return &trustState{Anchor: anchor, CAURL: i.cfg.CAURL, roots: []*x509.Certificate{root}}, nil
}

// fetchRoot gets /root/<fp> without verifying TLS and keeps the answer
// only if its SHA-256 is fp: the hash is the trust anchor.
func (i *Issuer) fetchRoot(ctx context.Context, fp string) (*x509.Certificate, error) {
	var out struct {
		CA string `json:"ca"`
	}
	err := newClient(i.base, nil, nil).do(ctx, "GET", "/root/"+fp, "", nil, &out)
	var ae *apiError
	if errors.As(err, &ae) && ae.Status == 404 {
		return nil, fmt.Errorf("step-ca at %s has no root with fingerprint %s: check root_fingerprint against `step certificate fingerprint root_ca.crt` on the CA", i.cfg.CAURL, fp)
	}
	if err != nil {
		return nil, fmt.Errorf("fetch the root: %w", err)
	}
	cs, err := pki.ParseCertsPEM([]byte(out.CA))
	if err != nil {
		return nil, fmt.Errorf("fetch the root: %w", err)
	}
	if got := fingerprint(cs[0]); got != fp {
		return nil, fmt.Errorf("the root step-ca at %s sent has fingerprint %s, not %s: refusing it", i.cfg.CAURL, got, fp)
	}
	return cs[0], nil
}

// refresh returns the trusted set that replaces t: step-ca's /roots and
// /federation, fetched over TLS verified by t, saved. t itself is never
// changed, since renewals in flight may be using it. /intermediates only helps recognise leaf-only cert files.
func (i *Issuer) refresh(ctx context.Context, t *trustState) (*trustState, error) {
	c := newClient(i.base, t.roots, nil)
	var roots, fed, inter certsResponse
	if err := c.do(ctx, "GET", "/roots", "", nil, &roots); err != nil {
		return nil, fmt.Errorf("refresh roots: %w", err)
	}
	if err := c.do(ctx, "GET", "/federation", "", nil, &fed); err != nil {
		return nil, fmt.Errorf("refresh federated roots: %w", err)
	}
	_ = c.do(ctx, "GET", "/intermediates", "", nil, &inter) // absent before step-ca v0.25
	next := &trustState{Anchor: t.Anchor, CAURL: t.CAURL, RefreshedAt: i.now().UTC()}
	var err error
	if next.roots, err = parsePEMs(roots.Crts); err != nil || len(next.roots) == 0 {
		return nil, fmt.Errorf("refresh roots: step-ca sent no usable root (%v)", err)
	}
	if next.federation, err = parsePEMs(fed.Crts); err != nil {
		return nil, fmt.Errorf("refresh federated roots: %w", err)
	}
	next.intermediates, _ = parsePEMs(inter.Crts)
	// Intermediates that step-ca no longer signs with still chain the
	// certs they signed, which must open mutual TLS until renewed.
	for _, c := range t.intermediates {
		if i.now().Before(c.NotAfter) && !slices.ContainsFunc(next.intermediates, c.Equal) {
			next.intermediates = append(next.intermediates, c)
		}
	}
	// Saved even when unchanged: the time keeps a restart from refreshing
	// at once.
	if err := i.saveTrust(next); err != nil {
		return nil, err
	}
	return next, nil
}

// writeAtomic replaces path (in the issuer's root-only state dir) with
// data, 0600: temp file, fsync, rename, fsync of the directory.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op once renamed
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

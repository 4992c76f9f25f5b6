package localca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
	"golang.org/x/sys/unix"
)

// File names inside the CA directory.
const (
	KeyFile  = "ca.key"
	CertFile = "ca.crt"
)

// errNoCA means neither CA file exists yet.
var errNoCA = errors.New("ca does not exist yet")

// load returns the CA key and certificate, reading them on first use or
// creating them when neither file exists. Errors are not cached, so an
// operator can fix the files without restarting the daemon.
func (c *CA) load(ctx context.Context) (crypto.Signer, *x509.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cert != nil {
		return c.key, c.cert, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	key, cert, err := c.readExisting()
	if errors.Is(err, errNoCA) {
		key, cert, err = c.create(ctx)
	}
	if err != nil {
		return nil, nil, err
	}
	c.key, c.cert = key, cert
	return key, cert, nil
}

// readExisting loads ca.key and ca.crt. It refuses a half-present or
// mismatched pair: silently making a new CA would orphan every cert that
// chains to the old one.
func (c *CA) readExisting() (crypto.Signer, *x509.Certificate, error) {
	keyPath, certPath := filepath.Join(c.dir, KeyFile), filepath.Join(c.dir, CertFile)
	_, kerr := os.Lstat(keyPath)
	_, cerr := os.Lstat(certPath)
	switch {
	case errors.Is(kerr, fs.ErrNotExist) && errors.Is(cerr, fs.ErrNotExist):
		return nil, nil, errNoCA
	case errors.Is(kerr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("local ca %q: %s exists but %s is missing; refusing to create a new ca that existing certificates would not chain to (restore %s, or remove %s to start a new ca)", c.name, certPath, keyPath, KeyFile, c.dir)
	case errors.Is(cerr, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("local ca %q: %s exists but %s is missing; refusing to create a new ca (restore %s, or remove %s to start a new ca)", c.name, keyPath, certPath, CertFile, c.dir)
	}
	kb, err := pki.ReadFileLimited(keyPath, pki.MaxFileSize)
	if err != nil {
		return nil, nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	key, err := pki.ParseKeyPEM(kb)
	if err != nil {
		return nil, nil, fmt.Errorf("local ca %q: %s: %w", c.name, keyPath, err)
	}
	cb, err := pki.ReadFileLimited(certPath, pki.MaxFileSize)
	if err != nil {
		return nil, nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	certs, err := pki.ParseCertsPEM(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("local ca %q: %s: %w", c.name, certPath, err)
	}
	cert := certs[0]
	switch {
	case len(certs) != 1:
		return nil, nil, fmt.Errorf("local ca %q: %s holds %d certificates, expected 1", c.name, certPath, len(certs))
	case !pki.KeyMatches(cert, key):
		return nil, nil, fmt.Errorf("local ca %q: %s does not match %s; refusing to create a new ca (restore the matching pair, or remove %s to start a new ca)", c.name, keyPath, certPath, c.dir)
	case !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0:
		return nil, nil, fmt.Errorf("local ca %q: %s is not a ca certificate (no basic constraints ca:true or keyCertSign)", c.name, certPath)
	}
	return key, cert, nil
}

// create makes a new CA. Both files are written into a fresh sibling
// directory which is then renamed to c.dir, so a crash at any instant
// leaves either no CA or a complete one, never a lone ca.key.
func (c *CA) create(ctx context.Context) (crypto.Signer, *x509.Certificate, error) {
	kt, cn, validity, err := c.caSettings()
	if err != nil {
		return nil, nil, err
	}
	key, err := generateKey(ctx, kt)
	if err != nil {
		return nil, nil, fmt.Errorf("local ca %q: generate %s key: %w", c.name, kt, err)
	}
	cert, err := c.selfSign(key, cn, validity)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := pki.EncodeKeyPEM(key, pki.FormatPKCS8)
	if err != nil {
		return nil, nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	if err := c.install(keyPEM, pki.EncodeCertsPEM(cert)); err != nil {
		if errors.Is(err, errCAExists) {
			// Another process created the CA first, or the directory
			// holds files that are not a CA: let readExisting decide.
			if k, crt, rerr := c.readExisting(); rerr == nil {
				return k, crt, nil
			} else if !errors.Is(rerr, errNoCA) {
				return nil, nil, rerr
			}
			return nil, nil, fmt.Errorf("local ca %q: %s is not empty but holds no ca; move its files away", c.name, c.dir)
		}
		return nil, nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	return key, cert, nil
}

// errCAExists means c.dir already holds files when create renames.
var errCAExists = errors.New("ca directory is not empty")

// install writes ca.key and ca.crt into a fresh temp directory next to
// c.dir (safefile: walked without untrusted links, files 0600 before
// their first byte, fsynced) and renames it to c.dir.
func (c *CA) install(keyPEM, certPEM []byte) error {
	parent, err := safefile.OpenDir(filepath.Dir(c.dir), true, 0o700)
	if err != nil {
		return err
	}
	defer parent.Close()
	removeStale(parent, filepath.Base(c.dir))
	tmp := safefile.TempName(filepath.Base(c.dir))
	if err := unix.Mkdirat(parent.Fd(), tmp, 0o700); err != nil {
		return &os.PathError{Op: "mkdir", Path: parent.Join(tmp), Err: err}
	}
	defer parent.RemoveAll(tmp) // nothing left once renamed
	d, err := safefile.OpenDir(parent.Join(tmp), false, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.WriteNew(KeyFile, keyPEM, safefile.Private, nil); err != nil {
		return err
	}
	if err := d.WriteNew(CertFile, certPEM, safefile.Private, nil); err != nil {
		return err
	}
	if err := d.Sync(nil); err != nil {
		return err
	}
	// rename(2) replaces c.dir only if it is missing or empty.
	if err := unix.Renameat(parent.Fd(), tmp, parent.Fd(), filepath.Base(c.dir)); err != nil {
		if err == unix.ENOTEMPTY || err == unix.EEXIST {
			return errCAExists
		}
		return &os.LinkError{Op: "rename", Old: parent.Join(tmp), New: c.dir, Err: err}
	}
	return parent.Sync(nil)
}

// caSettings applies the package defaults to the issuer config.
func (c *CA) caSettings() (pki.KeyType, string, time.Duration, error) {
	kt := pki.KeyType(c.cfg.KeyType)
	if kt == "" {
		kt = DefaultCAKeyType
	}
	if _, err := pki.ParseKeyType(string(kt)); err != nil {
		return "", "", 0, fmt.Errorf("local ca %q: key_type: %w", c.name, err)
	}
	cn := c.cfg.CommonName
	if cn == "" {
		cn = "certagent local ca " + c.name
	}
	validity := c.cfg.Validity.Duration
	if validity <= 0 {
		validity = DefaultCAValidity
	}
	return kt, cn, validity, nil
}

func (c *CA) selfSign(key crypto.Signer, cn string, validity time.Duration) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, fmt.Errorf("local ca %q: serial: %w", c.name, err)
	}
	ski, err := subjectKeyID(key.Public())
	if err != nil {
		return nil, fmt.Errorf("local ca %q: %w", c.name, err)
	}
	now := c.now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(validity),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("local ca %q: self-sign: %w", c.name, err)
	}
	return x509.ParseCertificate(der)
}

// staleAfter is how old a leftover temp directory must be before it is
// removed, so that a concurrent create in another process is left alone.
const staleAfter = 10 * time.Minute

// removeStale deletes temp directories of the CA named base left by a
// crash during create (safefile.TempName's, or the ".<base>.new-N" of
// earlier releases); they were never renamed into place, so no cert
// chains to them. The store's Recover sweeps them at start too.
func removeStale(parent *safefile.Dir, base string) {
	f, err := os.Open(parent.Path())
	if err != nil {
		return
	}
	entries, _ := f.ReadDir(-1)
	f.Close()
	for _, e := range entries {
		n := e.Name()
		ours := strings.HasPrefix(n, "."+base+".new-") ||
			(strings.HasPrefix(n, "."+base+".certagent-") && safefile.IsTemp(n))
		if !e.IsDir() || !ours {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleAfter {
			_ = parent.RemoveAll(e.Name())
		}
	}
}

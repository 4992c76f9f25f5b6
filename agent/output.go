package agent

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/formats"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/trust"
)

// outputFiles renders a bundle into the cert's configured files, key
// first so that the journal renames the key before the cert. Passwords
// are read here, at each issuance, so a rotated credential takes effect
// at the next renewal; they never appear in errors.
func outputFiles(c *config.Cert, b *Bundle) ([]store.File, error) {
	keyPw, err := readPassword(c, c.KeyPassword(), "key")
	if err != nil {
		return nil, err
	}
	key, err := formats.EncodeKey(b.Key, c.KeyFormat, keyPw)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	full := append([]*x509.Certificate{b.Leaf}, b.Chain...)
	chain := b.Chain
	if len(chain) == 0 {
		chain = b.Roots
	}
	file := func(path string, data []byte, mode os.FileMode) store.File {
		return store.File{Path: path, Data: data, Mode: mode, UID: c.UID, GID: c.GID,
			DirMode: c.DirMode.FileMode, FollowSymlinks: c.FollowSymlinks}
	}
	out := []store.File{
		file(c.KeyFile, key, c.Mode.FileMode),
		file(c.CertFile, pki.EncodeCertsPEM(certFileChain(c, b)...), c.CertMode.FileMode),
	}
	if c.FullchainFile != "" {
		out = append(out, file(c.FullchainFile, pki.EncodeCertsPEM(full...), c.CertMode.FileMode))
	}
	if c.ChainFile != "" {
		out = append(out, file(c.ChainFile, pki.EncodeCertsPEM(chain...), c.CertMode.FileMode))
	}
	if c.CAFile != "" {
		if len(b.Roots) == 0 {
			return nil, errors.New("ca_file is set but the issuer returned no CA certificates")
		}
		out = append(out, file(c.CAFile, pki.EncodeCertsPEM(b.Roots...), c.CertMode.FileMode))
	}
	if c.BundleFile != "" {
		out = append(out, file(c.BundleFile, formats.Bundle(key, b.Leaf, b.Chain...), c.Mode.FileMode))
	}
	extra, err := formatFiles(c, b, keyPw)
	if err != nil {
		return nil, err
	}
	for _, f := range extra {
		out = append(out, file(f.Path, f.Data, f.Mode))
	}
	return out, nil
}

// certFileChain is what cert_file holds, per cert_file_chain.
func certFileChain(c *config.Cert, b *Bundle) []*x509.Certificate {
	certs := []*x509.Certificate{b.Leaf}
	switch c.CertFileChain {
	case config.ChainFull:
		certs = append(certs, b.Chain...)
	case config.ChainFullWithRoot:
		certs = append(certs, b.Chain...)
		for _, r := range b.Roots {
			if len(certs) > 0 && certs[len(certs)-1].Equal(r) {
				continue
			}
			certs = append(certs, r)
		}
	}
	return certs
}

// formatFiles renders the PKCS#12 archive, the tls_info file and the
// templates (path, data and mode only; outputFiles adds ownership).
func formatFiles(c *config.Cert, b *Bundle, keyPw []byte) ([]store.File, error) {
	var out []store.File
	if c.PKCS12File != "" {
		pw, err := readPassword(c, c.PKCS12Password(), "pkcs12")
		if err != nil {
			return nil, err
		}
		der, err := formats.EncodePKCS12(b.Key, b.Leaf, append(append([]*x509.Certificate{}, b.Chain...), b.Roots...), pw, c.PKCS12Iterations)
		if err != nil {
			return nil, err
		}
		out = append(out, store.File{Path: c.PKCS12File, Data: der, Mode: c.Mode.FileMode})
	}
	if c.TLSInfoFile != "" {
		s, err := tlsInfo(c, keyPw)
		if err != nil {
			return nil, err
		}
		out = append(out, store.File{Path: c.TLSInfoFile, Data: []byte(s + "\n"), Mode: c.Mode.FileMode & 0o600})
	}
	data := templateData(c, b)
	for i, t := range c.Templates {
		// Read through the trust rule at every render, not only at load:
		// the source or a directory or link on its path may have changed
		// since, and root writes what it reads where the service user can
		// read it.
		src, err := trust.ReadTrusted(t.Source, config.MaxTemplateSize)
		if err != nil {
			return nil, fmt.Errorf("template %d: %w", i+1, err)
		}
		rendered, err := formats.RenderTemplate(filepath.Base(t.Source), src, data)
		if err != nil {
			return nil, fmt.Errorf("template %d: %w", i+1, err)
		}
		out = append(out, store.File{Path: t.Dest, Data: rendered, Mode: t.Mode.FileMode})
	}
	return out, nil
}

// readPassword reads one configured password and applies the policy;
// nil, nil when none is configured.
func readPassword(c *config.Cert, src formats.PasswordSource, what string) ([]byte, error) {
	if !src.IsSet() {
		return nil, nil
	}
	pw, err := src.Read(nil)
	if err != nil {
		return nil, fmt.Errorf("%s password: %w", what, err)
	}
	if err := formats.CheckPolicy(c.PasswordPolicy, pw); err != nil {
		return nil, fmt.Errorf("%s password in %s: %w", what, src.Describe(), err)
	}
	return pw, nil
}

// tlsInfo renders the MindIO tls_info string for c.
func tlsInfo(c *config.Cert, keyPw []byte) (string, error) {
	caPath, caFiles, err := formats.SplitDir([]string{c.CAFile})
	if err != nil {
		return "", err
	}
	crlPath, crlFiles, err := formats.SplitDir(c.TLSInfoCRLFiles)
	if err != nil {
		return "", err
	}
	ti := formats.TLSInfo{Cert: c.CertFile, CAPath: caPath, CAFiles: caFiles, CRLPath: crlPath, CRLFiles: crlFiles,
		Key: c.KeyFile, KeyPassword: string(keyPw), PackagePath: c.TLSInfoPackagePath}
	return ti.String()
}

// templateData is what templates see: paths, names and dates only.
func templateData(c *config.Cert, b *Bundle) formats.TemplateData {
	d := c.TemplateData()
	d.CommonName, d.Serial, d.IssuerCN = b.Leaf.Subject.CommonName, serialHex(b.Leaf), b.Leaf.Issuer.CommonName
	d.NotBefore, d.NotAfter = b.Leaf.NotBefore.UTC(), b.Leaf.NotAfter.UTC()
	return d
}

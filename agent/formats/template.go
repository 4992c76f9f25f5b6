package formats

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"
	"time"
)

// maxTemplateOutput bounds one rendered file; these are small config
// snippets, and a runaway template must not fill the disk.
const maxTemplateOutput = 1 << 20

// Paths are a cert's configured output files; empty when not configured.
type Paths struct {
	CertFile, KeyFile, FullchainFile, ChainFile, CAFile string
	BundleFile, PKCS12File, TLSInfoFile                 string
}

// TemplateData is what a [[certs.NAME.templates]] file sees. It holds no
// key material and no password.
type TemplateData struct {
	// Name is the cert's name in the config.
	Name string
	Paths
	// DNSNames and IPAddresses are the configured SANs.
	DNSNames, IPAddresses []string
	// CommonName, Serial (hex), NotBefore and NotAfter describe the
	// certificate just issued.
	CommonName          string
	Serial              string
	NotBefore, NotAfter time.Time
	// Issuer is the config name of the issuer; IssuerCN is the common
	// name of the certificate's issuer.
	Issuer, IssuerCN string
	// Certs holds the output paths of every cert in the config by name,
	// so one file can point at several certs (Vega's server.ini names
	// both dask certs).
	Certs map[string]Paths
}

// funcs are small helpers for config formats; none touches the system.
var funcs = template.FuncMap{
	"join":  strings.Join,
	"quote": func(s string) string { return fmt.Sprintf("%q", s) },
	"rfc3339": func(t time.Time) string {
		return t.UTC().Format(time.RFC3339)
	},
}

// ParseTemplate parses a template source, reporting syntax errors with
// the template's line. It also refuses what could run without bound (see
// maxTemplateWork): a range over anything but .DNSNames, .IPAddresses or
// .Certs, and template calls that recurse.
func ParseTemplate(name string, src []byte) (*template.Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	if err := bound(t, func(string) int { return 1 }); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, workError(err, "even with one-element lists"))
	}
	return t, nil
}

// RenderTemplate parses and executes src with data. A reference to a
// field that does not exist, output over 1 MiB, or more work than
// maxTemplateWork with data's lists, is an error.
func RenderTemplate(name string, src []byte, data TemplateData) ([]byte, error) {
	t, err := ParseTemplate(name, src)
	if err != nil {
		return nil, err
	}
	if err := bound(t, dataLens(data)); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, workError(err, "with this config's names and certs"))
	}
	var out limitedBuffer
	if err := t.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("render %s: %w", name, err)
	}
	return out.Bytes(), nil
}

// limitedBuffer fails writes past maxTemplateOutput.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxTemplateOutput {
		return 0, fmt.Errorf("output is larger than %d bytes", maxTemplateOutput)
	}
	return b.Buffer.Write(p)
}

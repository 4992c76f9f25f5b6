package config

import (
	"path/filepath"
	"strings"

	"github.com/certagent/certagent/agent/formats"
)

// tlsInfo checks tls_info_file and the paths it will reference: MindIO
// TFT splits the string on ';', ',' and ':', so no referenced path may
// contain them, and it has no way to quote one.
func (v *validator) tlsInfo(ct *Cert, at func(string, *valueError)) {
	if ct.TLSInfoFile == "" {
		if len(ct.TLSInfoCRLFiles) > 0 {
			at("tls_info_crl_files", badValue("remove it, or set tls_info_file", "tls_info_crl_files only applies with tls_info_file"))
		}
		if ct.TLSInfoPackagePath != "" {
			at("tls_info_package_path", badValue("remove it, or set tls_info_file", "tls_info_package_path only applies with tls_info_file"))
		}
		return
	}
	if ct.CAFile == "" {
		at("ca_file", badValue(`add e.g. ca_file = "/etc/mindio/tls/ca/ca.pem"`, "tls_info_file needs ca_file for tlsCaPath and tlsCaFile"))
	}
	switch {
	case ct.TLSInfoPackagePath == "":
		at("tls_info_package_path", badValue(`add the OpenSSL library directory, e.g. tls_info_package_path = "/usr/lib/x86_64-linux-gnu"`,
			"tls_info_file needs tls_info_package_path (packagePath is required by MindIO TFT)"))
	case !filepath.IsAbs(ct.TLSInfoPackagePath) || strings.ContainsAny(ct.TLSInfoPackagePath, "\x00\r\n"):
		at("tls_info_package_path", badValue("use an absolute directory path", "invalid package path %s", quoteShort(ct.TLSInfoPackagePath)))
	}
	for _, p := range ct.TLSInfoCRLFiles {
		at("tls_info_crl_files", checkPath(p))
	}
	if _, _, err := formats.SplitDir(ct.TLSInfoCRLs()); err != nil {
		at("tls_info_crl_files", badValue("put all CRL files in one directory", "%v", err))
	}
	refs := [][2]string{{"cert_file", ct.CertFile}, {"key_file", ct.KeyFile}, {"ca_file", ct.CAFile},
		{"tls_info_package_path", ct.TLSInfoPackagePath}}
	for _, p := range ct.TLSInfoCRLFiles {
		refs = append(refs, [2]string{"tls_info_crl_files", p})
	}
	if len(ct.TLSInfoCRLFiles) == 0 {
		refs = append(refs, [2]string{"crl_file", ct.CRLFile})
	}
	for _, kv := range refs {
		if kv[1] == "" {
			continue
		}
		if i := strings.IndexAny(kv[1], formats.ForbiddenChars); i >= 0 {
			at(kv[0], badValue("choose a path without ';', ',' or ':'; tls_info cannot quote them",
				"path %s contains %q, which MindIO TFT's tls_info uses as a separator (';' between fields, ',' between files, ':' after a field name)",
				quoteShort(kv[1]), kv[1][i]))
		}
	}
}

// TLSInfoCRLs are the CRL files named in tls_info (tlsCrlPath and
// tlsCrlFile): tls_info_crl_files when set, else the cert's own crl_file.
func (c *Cert) TLSInfoCRLs() []string {
	if len(c.TLSInfoCRLFiles) > 0 || c.CRLFile == "" {
		return c.TLSInfoCRLFiles
	}
	return []string{c.CRLFile}
}

package formats

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// TLSInfo is MindIO TFT's tls_info (seed 000): ';' separates fields, ','
// separates file names and ':' separates a field's name from its value.
type TLSInfo struct {
	Cert        string   // tlsCert: server certificate path
	CAPath      string   // tlsCaPath: directory of the CA files, with a trailing /
	CAFiles     []string // tlsCaFile: CA file names inside CAPath
	CRLPath     string   // tlsCrlPath: directory of the CRLs (optional)
	CRLFiles    []string // tlsCrlFile: CRL file names (optional)
	Key         string   // tlsPk: private key path
	KeyPassword string   // tlsPkPwd: private key password
	PackagePath string   // packagePath: OpenSSL library path
}

// tlsInfoFields is the field order certagent writes, as in issue 6.
var tlsInfoFields = []string{"tlsCert", "tlsCaPath", "tlsCaFile", "tlsCrlPath", "tlsCrlFile", "tlsPk", "tlsPkPwd", "packagePath"}

// ForbiddenChars are the separators of the tls_info syntax, which no
// path or password inside it may contain.
const ForbiddenChars = ";,:"

// CheckTLSInfoValue rejects a value that would break the tls_info
// syntax, naming the character but not the value (it may be a password).
func CheckTLSInfoValue(v string) error {
	if i := strings.IndexAny(v, ForbiddenChars); i >= 0 {
		return fmt.Errorf("contains %q, which separates fields (';'), files (',') or names from values (':') in tls_info", v[i])
	}
	if strings.ContainsAny(v, "\x00\r\n") {
		return errors.New("contains a NUL or line break")
	}
	return nil
}

// SplitDir turns absolute file paths that share one directory into the
// tls_info pair (directory with trailing slash, file names).
func SplitDir(paths []string) (string, []string, error) {
	if len(paths) == 0 {
		return "", nil, nil
	}
	dir := filepath.Dir(paths[0])
	names := make([]string, 0, len(paths))
	for _, p := range paths {
		if filepath.Dir(p) != dir {
			return "", nil, fmt.Errorf("%s and %s are in different directories; tls_info has one directory per list", paths[0], p)
		}
		names = append(names, filepath.Base(p))
	}
	return strings.TrimSuffix(dir, "/") + "/", names, nil
}

// String renders the tls_info string; it fails when a value contains a
// separator, naming the field and never the password.
func (t TLSInfo) String() (string, error) {
	vals := []string{t.Cert, t.CAPath, strings.Join(t.CAFiles, ", "), t.CRLPath,
		strings.Join(t.CRLFiles, ", "), t.Key, t.KeyPassword, t.PackagePath}
	parts := make([]string, 0, len(vals))
	for i, v := range vals {
		check := []string{v}
		if i == 2 {
			check = t.CAFiles
		} else if i == 4 {
			check = t.CRLFiles
		}
		for _, c := range check {
			if err := CheckTLSInfoValue(c); err != nil {
				return "", fmt.Errorf("tls_info field %s %w", tlsInfoFields[i], err)
			}
		}
		parts = append(parts, tlsInfoFields[i]+": "+v)
	}
	return strings.Join(parts, "; "), nil
}

// ParseTLSInfo reads a tls_info string back into its fields. It accepts
// the fields in any order and the optional "( … )" wrapper of seed 000's
// example; unknown or repeated fields are errors.
func ParseTLSInfo(s string) (TLSInfo, error) {
	var t TLSInfo
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")") {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	seen := map[string]bool{}
	for _, field := range strings.Split(s, ";") {
		name, val, ok := strings.Cut(field, ":")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" {
			return t, fmt.Errorf("field %q has no name: value separator", strings.TrimSpace(field))
		}
		if seen[name] {
			return t, fmt.Errorf("field %s appears twice", name)
		}
		seen[name] = true
		if err := t.set(name, val); err != nil {
			return t, err
		}
	}
	return t, nil
}

func (t *TLSInfo) set(name, val string) error {
	list := func() []string {
		var out []string
		for _, f := range strings.Split(val, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	switch name {
	case "tlsCert":
		t.Cert = val
	case "tlsCaPath":
		t.CAPath = val
	case "tlsCaFile":
		t.CAFiles = list()
	case "tlsCrlPath":
		t.CRLPath = val
	case "tlsCrlFile":
		t.CRLFiles = list()
	case "tlsPk":
		t.Key = val
	case "tlsPkPwd":
		t.KeyPassword = val
	case "packagePath":
		t.PackagePath = val
	default:
		return fmt.Errorf("unknown field %s", name)
	}
	return nil
}

package formats

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// CredentialsEnv is the variable systemd sets for a service with
// LoadCredential=/LoadCredentialEncrypted=/SetCredential= (systemd.exec(5)).
const CredentialsEnv = "CREDENTIALS_DIRECTORY"

// maxPassword bounds what is read from a password file.
const maxPassword = 4096

// Policies accepted by CheckPolicy.
const (
	PolicyNone   = "none"
	PolicyStrong = "strong"
)

// ErrNoCredentials means a credential was named but the process has no
// $CREDENTIALS_DIRECTORY (it was not started by systemd with
// LoadCredential=), so the password cannot be read here.
var ErrNoCredentials = errors.New("$" + CredentialsEnv + " is not set; the credential is only readable inside the certagent service (LoadCredential=)")

// PasswordSource names where a password comes from: a systemd credential
// name or a file path. At most one is set.
type PasswordSource struct {
	Credential string
	File       string
}

// IsSet reports whether a source is configured.
func (s PasswordSource) IsSet() bool { return s.Credential != "" || s.File != "" }

// Describe names the source for messages, never the password.
func (s PasswordSource) Describe() string {
	if s.Credential != "" {
		return fmt.Sprintf("credential %q", s.Credential)
	}
	return "file " + s.File
}

// Read returns the password: the whole file with one trailing newline
// (\n or \r\n) removed, as `systemd-creds` and `echo` leave it. The
// credential is read from $CREDENTIALS_DIRECTORY/NAME, looked up with
// getenv (os.Getenv when nil). An empty password is an error.
func (s PasswordSource) Read(getenv func(string) string) ([]byte, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	path := s.File
	if s.Credential != "" {
		dir := getenv(CredentialsEnv)
		if dir == "" {
			return nil, ErrNoCredentials
		}
		path = filepath.Join(dir, s.Credential)
	}
	if path == "" {
		return nil, errors.New("no password source configured")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read password from %s: %w", s.Describe(), unwrap(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPassword+1))
	if err != nil {
		return nil, fmt.Errorf("read password from %s: %w", s.Describe(), unwrap(err))
	}
	if len(b) > maxPassword {
		return nil, fmt.Errorf("password in %s is longer than %d bytes", s.Describe(), maxPassword)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, fmt.Errorf("password in %s is empty", s.Describe())
	}
	return b, nil
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// StrongRule is the Vega guide's password rule in words.
const StrongRule = "at least 8 characters with an upper-case letter, a lower-case letter, a digit and a special character"

// CheckPolicy applies a password policy ("" and "none" accept any
// non-empty password). The error lists what is missing, never the password.
func CheckPolicy(policy string, pw []byte) error {
	switch policy {
	case "", PolicyNone:
		return nil
	case PolicyStrong:
	default:
		return fmt.Errorf("unknown password policy %q", policy)
	}
	var upper, lower, digit, special bool
	n := 0
	for _, r := range string(pw) {
		n++
		switch {
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsDigit(r):
			digit = true
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || r == ' ':
			special = true
		}
	}
	var missing []string
	if n < 8 {
		missing = append(missing, fmt.Sprintf("it has %d characters, not at least 8", n))
	}
	for _, m := range []struct {
		ok   bool
		what string
	}{{upper, "upper-case letter"}, {lower, "lower-case letter"}, {digit, "digit"}, {special, "special character"}} {
		if !m.ok {
			missing = append(missing, "no "+m.what)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("password is too weak for policy \"strong\": %s", strings.Join(missing, ", "))
	}
	return nil
}

package stepca

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
)

// readToken reads and checks token_file. It returns the token, or nil
// and why there is no usable one: a spent token is never sent, since
// step-ca burns a token even when the request then fails.
func (i *Issuer) readToken(req agent.Request) (*enrollToken, error) {
	p := i.cfg.TokenFile
	if p == "" {
		return nil, errors.New("no token_file is set")
	}
	if err := checkTokenFile(p); err != nil {
		return nil, err
	}
	b, err := pki.ReadFileLimited(p, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("token file: %w", err)
	}
	tok, err := parseToken(b)
	if err != nil {
		return nil, fmt.Errorf("token file %s: %w", p, err)
	}
	now := i.now()
	if !tok.expiry.IsZero() && !now.Before(tok.expiry) {
		return nil, fmt.Errorf("the token in %s expired at %s", p, tok.expiry.UTC().Format(time.RFC3339))
	}
	if want := requestNames(req); len(tok.sans) > 0 && !sameSet(tok.sans, want) {
		return nil, fmt.Errorf("the token in %s is for %s, but the cert asks for %s (step-ca only signs the names in the token)",
			p, strings.Join(tok.sans, ","), strings.Join(want, ","))
	}
	fp := i.cfg.RootFingerprint
	switch {
	case fp != "" && tok.root != nil && fingerprint(tok.root) != fp:
		return nil, &rootMismatch{fmt.Sprintf("the token in %s carries a root with fingerprint %s, not root_fingerprint %s", p, fingerprint(tok.root), fp)}
	case fp != "" && tok.sha != "" && tok.sha != fp:
		return nil, &rootMismatch{fmt.Sprintf("the token in %s was made for the root with fingerprint %s, not root_fingerprint %s", p, tok.sha, fp)}
	}
	return tok, nil
}

// rootMismatch is a token for another root than the configured one:
// either may be wrong, so it is reported as an error, not as a need for
// a new token, and the token is left unspent.
type rootMismatch struct{ msg string }

func (e *rootMismatch) Error() string {
	return e.msg + " (fix root_fingerprint, or make the token on the CA it names)"
}

// checkTokenFile re-checks at use what config validation checked at
// load: the token is a root-owned private regular file (no symlink) in a
// directory only root can write, since certagent deletes it there.
func checkTokenFile(p string) error {
	fi, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("token file %s does not exist", p)
	}
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 != 0 || st == nil || (st.Uid != 0 && int(st.Uid) != os.Geteuid()) {
		return fmt.Errorf("token file %s must be a regular file owned by root with mode 0600 (it is %s)", p, fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(p))
	if err != nil {
		return fmt.Errorf("token file: %w", err)
	}
	ds, _ := di.Sys().(*syscall.Stat_t)
	if di.Mode().Perm()&0o022 != 0 || ds == nil || (ds.Uid != 0 && int(ds.Uid) != os.Geteuid()) {
		return fmt.Errorf("token directory %s must be owned by root and writable only by it (it is %s)", filepath.Dir(p), di.Mode())
	}
	return nil
}

// needsToken builds the error that puts the cert in state needs_token.
func (i *Issuer) needsToken(req agent.Request, reason string) error {
	return &agent.NeedsTokenError{File: i.cfg.TokenFile, Reason: reason, Command: tokenCommand(req, i.cfg.CAURL)}
}

// tokenCommand is the command that makes a token for req on the CA host.
func tokenCommand(req agent.Request, caURL string) string {
	names := requestNames(req)
	sub := req.CommonName
	if sub == "" && len(names) > 0 {
		sub = names[0]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "step ca token %s", sub)
	for _, n := range names {
		fmt.Fprintf(&b, " --san %s", n)
	}
	fmt.Fprintf(&b, " --ca-url %s --root root_ca.crt", caURL)
	return b.String()
}

// removeToken deletes a spent token: it is a secret that can no longer
// be used, and its absence is how operators see it was.
func (i *Issuer) removeToken(req agent.Request) {
	if err := os.Remove(i.cfg.TokenFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		i.log.Warn("cannot delete the used token", "issuer", i.name, "cert", req.Name, "token_file", i.cfg.TokenFile, "error", err)
		return
	}
	i.log.Info("one-time token used and deleted", "issuer", i.name, "cert", req.Name, "token_file", i.cfg.TokenFile)
}

// requestNames lists the SANs of req as step prints them.
func requestNames(req agent.Request) []string {
	out := append([]string{}, req.DNSNames...)
	for _, ip := range req.IPAddresses {
		out = append(out, ip.String())
	}
	return out
}

// sameNames reports whether cert has exactly the SANs req asks for.
func sameNames(cert *x509.Certificate, req agent.Request) bool {
	have := append([]string{}, cert.DNSNames...)
	for _, ip := range cert.IPAddresses {
		have = append(have, ip.String())
	}
	return sameSet(have, requestNames(req))
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

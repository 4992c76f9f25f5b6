package acme

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/certagent/certagent/internal/safefile"
	"github.com/go-acme/lego/v4/challenge/http01"
)

// webrootProvider solves http-01 by writing the key authorization to
// WEBROOT/.well-known/acme-challenge/TOKEN for an existing web server.
// One is made per order; release removes whatever lego did not clean up,
// so no challenge file outlives the order, whether it failed or not.
//
// The web root often belongs to the service user, so every mkdir,
// create and unlink goes through internal/safefile: a `.well-known` (or
// any other) symlink that user planted is refused, not followed, and the
// challenge file is created O_EXCL|O_NOFOLLOW and renamed into place.
type webrootProvider struct {
	root   string
	mu     sync.Mutex
	tokens map[string]bool
}

func newWebrootProvider(root string) *webrootProvider {
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	return &webrootProvider{root: root, tokens: map[string]bool{}}
}

// dir is WEBROOT/.well-known/acme-challenge.
func (w *webrootProvider) dir() string {
	return filepath.Join(w.root, filepath.FromSlash(strings.TrimSuffix(http01.PathPrefix, "/")))
}

// challengePerm is world-readable (0644) because the web server, not
// certagent, serves the file; it holds only the public key authorization.
var challengePerm = safefile.Perm{Mode: 0o644, UID: -1, GID: -1}

// Present implements challenge.Provider.
func (w *webrootProvider) Present(domain, token, keyAuth string) error {
	// lego maps tokens that are not base64url to ".../invalid"; refuse
	// them rather than write a file no validation would ask for.
	if http01.ChallengePath(token) != http01.PathPrefix+token {
		return fmt.Errorf("webroot: token %q is not base64url", token)
	}
	d, err := safefile.OpenDir(w.dir(), true, 0o755)
	if err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	defer d.Close()
	w.mu.Lock()
	w.tokens[token] = true
	w.mu.Unlock()
	if err := d.Replace(token, []byte(keyAuth), challengePerm, nil); err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	return nil
}

// CleanUp implements challenge.Provider.
func (w *webrootProvider) CleanUp(domain, token, keyAuth string) error {
	w.mu.Lock()
	delete(w.tokens, token)
	w.mu.Unlock()
	return w.remove(token)
}

// remove unlinks the challenge file (never what a link there points to)
// in the directory reached by the safe walk.
func (w *webrootProvider) remove(token string) error {
	if http01.ChallengePath(token) != http01.PathPrefix+token {
		return nil // Present wrote nothing for it
	}
	d, err := safefile.OpenDir(w.dir(), false, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	defer d.Close()
	if err := d.Remove(token); err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	return nil
}

// release removes every challenge file of this order still present.
func (w *webrootProvider) release() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for tok := range w.tokens {
		if err := w.remove(tok); err != nil {
			errs = append(errs, err)
		}
		delete(w.tokens, tok)
	}
	return errors.Join(errs...)
}

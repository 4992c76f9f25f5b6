package acme

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/go-acme/lego/v4/challenge/http01"
)

// webrootProvider solves http-01 by writing the key authorization to
// WEBROOT/.well-known/acme-challenge/TOKEN for an existing web server.
// One is made per order; release removes whatever lego did not clean up,
// so no challenge file outlives the order, whether it failed or not.
type webrootProvider struct {
	root  string
	mu    sync.Mutex
	files map[string]bool
}

func newWebrootProvider(root string) *webrootProvider {
	return &webrootProvider{root: root, files: map[string]bool{}}
}

func (w *webrootProvider) path(token string) string {
	return filepath.Join(w.root, filepath.FromSlash(http01.ChallengePath(token)))
}

// Present implements challenge.Provider. The file is world-readable
// (0644) because the web server, not certagent, serves it; it holds only
// the public key authorization.
func (w *webrootProvider) Present(domain, token, keyAuth string) error {
	// lego maps tokens that are not base64url to ".../invalid"; refuse
	// them rather than write a file no validation would ask for.
	if http01.ChallengePath(token) != http01.PathPrefix+token {
		return fmt.Errorf("webroot: token %q is not base64url", token)
	}
	p := w.path(token)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	w.mu.Lock()
	w.files[p] = true
	w.mu.Unlock()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	if _, err := f.WriteString(keyAuth); err != nil {
		f.Close()
		return fmt.Errorf("webroot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("webroot: %w", err)
	}
	return nil
}

// CleanUp implements challenge.Provider.
func (w *webrootProvider) CleanUp(domain, token, keyAuth string) error {
	p := w.path(token)
	w.mu.Lock()
	delete(w.files, p)
	w.mu.Unlock()
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("webroot: %w", err)
	}
	return nil
}

// release removes every challenge file of this order still present.
func (w *webrootProvider) release() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	var errs []error
	for p := range w.files {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
		delete(w.files, p)
	}
	return errors.Join(errs...)
}

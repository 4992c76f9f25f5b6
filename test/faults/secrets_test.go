package faults

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Everything the binaries under test printed, and every secret they
// must never print, collected across the package for the hygiene scan in
// zz_hygiene_test.go.
var secrets struct {
	mu       sync.Mutex
	logs     []string
	keyLines map[string]bool // base64 lines of private keys seen on disk
	keys     int
	words    map[string]bool // test passwords and credentials
}

// collectLog keeps output of a certagent run for the secret scan.
func collectLog(texts ...string) {
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	for _, t := range texts {
		if t != "" {
			secrets.logs = append(secrets.logs, t)
		}
	}
}

// registerSecret names a test password or credential that must never be
// logged.
func registerSecret(s string) {
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.words == nil {
		secrets.words = map[string]bool{}
	}
	secrets.words[s] = true
}

// harvestKeys records the base64 body of every PEM private key under dir
// (output keys and the local CA's key).
func harvestKeys(dir string) {
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), "PRIVATE KEY-----") {
			return nil
		}
		addKeyLines(string(b))
		return nil
	})
}

func addKeyLines(pemText string) {
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if secrets.keyLines == nil {
		secrets.keyLines = map[string]bool{}
	}
	in := false
	for _, l := range strings.Split(pemText, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(l, "-----BEGIN") && strings.Contains(l, "PRIVATE KEY"):
			in = true
			secrets.keys++
		case strings.HasPrefix(l, "-----END"):
			in = false
		case in && len(l) >= 24:
			// Whole 64-char lines, and a 24-char chunk of each, so a
			// re-wrapped or truncated key is still caught.
			secrets.keyLines[l] = true
			secrets.keyLines[l[len(l)/2-12:len(l)/2+12]] = true
		}
	}
}

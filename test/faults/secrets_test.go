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
		case in && len(l) >= fragLen:
			// The middle 24 characters of each line: found in the log
			// whether the key shows up whole, re-wrapped or truncated.
			secrets.keyLines[l[len(l)/2-fragLen/2:len(l)/2+fragLen/2]] = true
		}
	}
}

// fragLen is the length of the key fragments looked for in logs.
const fragLen = 24

// hasKeyFragment reports whether line contains any harvested fragment.
// Called with secrets.mu held.
func hasKeyFragment(line string) bool {
	for i := 0; i+fragLen <= len(line); i++ {
		if secrets.keyLines[line[i:i+fragLen]] {
			return true
		}
	}
	return false
}

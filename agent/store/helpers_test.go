package store

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// pair is a real ECDSA key and a self-signed cert for it, PEM-encoded.
type pair struct{ key, cert []byte }

func newPair(t testing.TB, cn string) pair {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pair{
		key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
		cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
}

// pairMatches reports whether the key and cert PEM on disk belong together.
func pairMatches(key, cert []byte) bool {
	kb, _ := pem.Decode(key)
	cb, _ := pem.Decode(cert)
	if kb == nil || cb == nil {
		return false
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return false
	}
	c, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return false
	}
	pub, ok := c.PublicKey.(*ecdsa.PublicKey)
	return ok && pub.Equal(k.(*ecdsa.PrivateKey).Public())
}

func newStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state"), hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// pairFiles is the set for p under dir: key first, then cert.
func pairFiles(dir string, p pair) []File {
	return []File{
		{Path: filepath.Join(dir, "key.pem"), Data: p.key, Mode: 0o600, UID: -1, GID: -1},
		{Path: filepath.Join(dir, "cert.pem"), Data: p.cert, Mode: 0o644, UID: -1, GID: -1},
	}
}

// allowFiles is the Allowed set of a configuration in which cert writes
// files and queues intents.
func allowFiles(cert string, files []File, intents []Intent) Allowed {
	ac := AllowedCert{Intents: intents}
	for _, f := range files {
		ac.Outputs = append(ac.Outputs, Output{Path: f.Path, FollowSymlinks: f.FollowSymlinks})
	}
	return Allowed{cert: ac}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertOnDisk checks that dir holds exactly pair p.
func assertOnDisk(t *testing.T, dir string, p pair) {
	t.Helper()
	if k := mustRead(t, filepath.Join(dir, "key.pem")); !bytes.Equal(k, p.key) {
		t.Fatalf("key.pem is not the expected key")
	}
	if c := mustRead(t, filepath.Join(dir, "cert.pem")); !bytes.Equal(c, p.cert) {
		t.Fatalf("cert.pem is not the expected cert")
	}
}

// assertNoTemps fails if any of our temp files is left in the dirs.
func assertNoTemps(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if strings.Contains(e.Name(), ".certagent-") || strings.HasSuffix(e.Name(), ".tmp") {
				t.Fatalf("temp file left behind: %s", filepath.Join(d, e.Name()))
			}
		}
	}
}

// assertNoJournal fails if a commit record exists.
func assertNoJournal(t *testing.T, s *Store) {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(s.Dir(), journalDir, "commit-*"))
	if len(m) > 0 {
		t.Fatalf("journal records left: %v", m)
	}
}

func statT(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root and CI runs as root")
		}
		t.Skip("needs root (chown to another uid)")
	}
}

package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testNow is the fixed "now" of the Inspect tests.
var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

var (
	keyCacheMu sync.Mutex
	keyCache   = map[string]crypto.Signer{}
)

// testKey returns a key of type kt; the same (kt, slot) gives the same
// key within one test binary, so RSA keys are generated only once.
func testKey(t testing.TB, kt KeyType, slot string) crypto.Signer {
	t.Helper()
	keyCacheMu.Lock()
	defer keyCacheMu.Unlock()
	id := string(kt) + "/" + slot
	if k, ok := keyCache[id]; ok {
		return k
	}
	k, err := GenerateKey(kt)
	if err != nil {
		t.Fatalf("generate %s: %v", kt, err)
	}
	keyCache[id] = k
	return k
}

type certOpts struct {
	cn        string
	dns       []string
	ips       []net.IP
	key       crypto.Signer
	isCA      bool
	notBefore time.Time
	notAfter  time.Time
	sigAlg    x509.SignatureAlgorithm
}

// mkCert signs a cert for o.key with parent/parentKey, or self-signs it
// when parent is nil.
func mkCert(t testing.TB, o certOpts, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = testNow.Add(-24 * time.Hour)
		if o.isCA {
			o.notBefore = testNow.Add(-365 * 24 * time.Hour)
		}
	}
	if o.notAfter.IsZero() {
		o.notAfter = testNow.Add(30 * 24 * time.Hour)
		if o.isCA {
			o.notAfter = testNow.Add(365 * 24 * time.Hour)
		}
	}
	spki, err := x509.MarshalPKIXPublicKey(o.key.Public())
	if err != nil {
		t.Fatal(err)
	}
	ski := sha1.Sum(spki)
	tmpl := &x509.Certificate{
		SerialNumber:       big.NewInt(time.Now().UnixNano()),
		Subject:            pkix.Name{CommonName: o.cn},
		DNSNames:           o.dns,
		IPAddresses:        o.ips,
		NotBefore:          o.notBefore,
		NotAfter:           o.notAfter,
		SubjectKeyId:       ski[:],
		SignatureAlgorithm: o.sigAlg,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if o.isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
		tmpl.ExtKeyUsage = nil
	}
	if parent == nil {
		parent, parentKey = tmpl, o.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, o.key.Public(), parentKey)
	if err != nil {
		t.Fatalf("create cert %q: %v", o.cn, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// hierarchy is root -> intermediate -> leaf, all valid at testNow.
type hierarchy struct {
	root, inter, leaf          *x509.Certificate
	rootKey, interKey, leafKey crypto.Signer
}

func newHierarchy(t testing.TB, leafType KeyType) hierarchy {
	t.Helper()
	var h hierarchy
	h.rootKey = testKey(t, KeyEC256, "root")
	h.root = mkCert(t, certOpts{cn: "test root", key: h.rootKey, isCA: true}, nil, nil)
	h.interKey = testKey(t, KeyEC256, "inter")
	h.inter = mkCert(t, certOpts{cn: "test intermediate", key: h.interKey, isCA: true}, h.root, h.rootKey)
	h.leafKey = testKey(t, leafType, "leaf")
	h.leaf = mkCert(t, certOpts{cn: "web.example.com", dns: []string{"web.example.com", "*.apps.example.com"},
		ips: []net.IP{net.ParseIP("127.0.0.1")}, key: h.leafKey}, h.inter, h.interKey)
	return h
}

// writeFile writes b to dir/name and returns the path.
func writeFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func keyPEM(t testing.TB, k crypto.Signer) []byte {
	t.Helper()
	b, err := EncodeKeyPEM(k, "")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertNoSecret fails if msg quotes any 16-byte run of the PEM body.
func assertNoSecret(t testing.TB, msg string, pemText []byte) {
	t.Helper()
	for _, line := range strings.Split(string(pemText), "\n") {
		if strings.HasPrefix(line, "-----") || len(line) < 16 {
			continue
		}
		for i := 0; i+16 <= len(line); i += 8 {
			if strings.Contains(msg, line[i:i+16]) {
				t.Fatalf("message leaks key material: %q", msg)
			}
		}
	}
}

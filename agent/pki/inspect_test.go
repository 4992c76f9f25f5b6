package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pairFiles writes certs (in the given order) and key to a temp dir.
func pairFiles(t *testing.T, key []byte, certs ...*x509.Certificate) (certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile = writeFile(t, dir, "cert.pem", EncodeCertsPEM(certs...))
	keyFile = writeFile(t, dir, "key.pem", key)
	return certFile, keyFile
}

func expectFor(h hierarchy) Expect {
	return Expect{
		DNSNames:   []string{"web.example.com", "x.apps.example.com"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1")},
		KeyType:    KeyEC256,
		Roots:      []*x509.Certificate{h.root},
		MinRSABits: 2048,
	}
}

// kinds lists "kind: detail" of every problem for readable failures.
func kinds(r Report) []string {
	var s []string
	for _, p := range r.Problems {
		s = append(s, fmt.Sprintf("%s: %s", p.Kind, p.Detail))
	}
	return s
}

// wantProblems asserts the exact set of problems, in order.
func wantProblems(t *testing.T, r Report, want ...string) {
	t.Helper()
	if got := kinds(r); !slices.Equal(got, want) {
		t.Fatalf("problems:\n got  %q\n want %q", got, want)
	}
}

func TestInspectOK(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter)
	r := Inspect(cf, kf, expectFor(h), testNow)
	wantProblems(t, r)
	if !r.OK() || !r.Leaf.Equal(h.leaf) || len(r.Chain) != 1 || r.KeyType != KeyEC256 {
		t.Fatalf("report = %+v", r)
	}
	// A chain that ends with the root itself verifies too.
	cf, kf = pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter, h.root)
	wantProblems(t, Inspect(cf, kf, expectFor(h), testNow))
	// Watch-only certs have no key file.
	wantProblems(t, Inspect(cf, "", expectFor(h), testNow))
}

func TestInspectFileProblems(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.pem", EncodeCertsPEM(h.leaf, h.inter))
	key := writeFile(t, dir, "key.pem", keyPEM(t, h.leafKey))
	missing := filepath.Join(dir, "missing.pem")
	fifo := filepath.Join(dir, "fifo.pem")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := writeFile(t, dir, "garbage.pem", []byte("garbage\n"))
	der := writeFile(t, dir, "der.pem", h.leaf.Raw)
	huge := writeFile(t, dir, "huge.pem", make([]byte, MaxFileSize+1))
	exp := expectFor(h)

	r := Inspect(missing, filepath.Join(dir, "nokey.pem"), exp, testNow)
	wantProblems(t, r, "missing: file does not exist", "missing: file does not exist")
	if r.Problems[0].File != missing || r.Leaf != nil {
		t.Fatalf("report = %+v", r)
	}
	wantProblems(t, Inspect(fifo, key, exp, testNow), "unreadable: is a named pipe (fifo), not a regular file")
	wantProblems(t, Inspect(huge, key, exp, testNow), "unreadable: file is 1048577 bytes, larger than the 1048576 byte limit (not a pem cert or key)")
	wantProblems(t, Inspect(garbage, key, exp, testNow), "unparsable: no pem data found, expected a pem certificate")
	wantProblems(t, Inspect(der, key, exp, testNow), "unparsable: looks like DER, expected PEM (convert with: openssl x509 -inform der -in FILE -out FILE.pem)")
	r = Inspect(good, der, exp, testNow)
	wantProblems(t, r, "unparsable: looks like DER, expected PEM (convert with: openssl pkey -inform der -in FILE -out FILE.pem)")
	if r.Problems[0].File != der || r.Leaf == nil {
		t.Fatalf("key problem must name the key file and keep the leaf: %+v", r)
	}
}

func TestInspectMismatch(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	other := testKey(t, KeyEC256, "other")
	cf, kf := pairFiles(t, keyPEM(t, other), h.leaf, h.inter)
	r := Inspect(cf, kf, expectFor(h), testNow)
	wantProblems(t, r, "mismatch: private key does not match the certificate's public key")
	if r.Problems[0].File != kf {
		t.Fatalf("mismatch must name the key file, got %s", r.Problems[0].File)
	}
}

func TestInspectTimes(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter)
	exp := expectFor(h)
	late := h.leaf.NotAfter.Add(time.Second)
	wantProblems(t, Inspect(cf, kf, exp, late),
		"expired: certificate expired at "+h.leaf.NotAfter.UTC().Format(time.RFC3339))
	early := h.leaf.NotBefore.Add(-time.Second)
	wantProblems(t, Inspect(cf, kf, exp, early),
		"not_yet_valid: certificate is not valid before "+h.leaf.NotBefore.UTC().Format(time.RFC3339))

	// An expired intermediate is reported as such, not as a wrong issuer.
	oldInter := mkCert(t, certOpts{cn: "test intermediate", key: h.interKey, isCA: true,
		notBefore: testNow.Add(-48 * time.Hour), notAfter: testNow.Add(-time.Hour)}, h.root, h.rootKey)
	cf, kf = pairFiles(t, keyPEM(t, h.leafKey), h.leaf, oldInter)
	wantProblems(t, Inspect(cf, kf, exp, testNow),
		"expired: chain certificate 2 (cn=test intermediate) expired at "+oldInter.NotAfter.UTC().Format(time.RFC3339))
}

func TestInspectSANs(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter)
	exp := expectFor(h)
	// Case, a trailing dot and a one-label wildcard all cover.
	exp.DNSNames = []string{"WEB.example.com.", "a.apps.example.com"}
	wantProblems(t, Inspect(cf, kf, exp, testNow))

	exp.DNSNames = []string{"web.example.com", "api.example.com", "a.b.apps.example.com", "*.example.com"}
	exp.IPs = []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	wantProblems(t, Inspect(cf, kf, exp, testNow),
		`sans: certificate does not cover dns name "api.example.com", dns name "a.b.apps.example.com", dns name "*.example.com", ip ::1 (it has: web.example.com, *.apps.example.com, 127.0.0.1)`)
}

func TestInspectKeyPolicy(t *testing.T) {
	h := newHierarchy(t, KeyRSA2048)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter)
	exp := expectFor(h)
	exp.KeyType = KeyEC256
	exp.MinRSABits = 3072
	exp.AllowedKeyTypes = []KeyType{KeyEC256, KeyRSA4096}
	r := Inspect(cf, kf, exp, testNow)
	wantProblems(t, r,
		"key_type: key type is rsa2048, expected ec256",
		"key_type: key type rsa2048 is not in allowed_key_types (ec256, rsa4096)",
		"weak_key: rsa key is 2048 bits, below min_rsa_bits 3072")
	if r.KeyType != KeyRSA2048 {
		t.Fatalf("KeyType = %q", r.KeyType)
	}
	exp.KeyType, exp.MinRSABits, exp.AllowedKeyTypes = KeyRSA2048, 2048, []KeyType{KeyRSA2048}
	wantProblems(t, Inspect(cf, kf, exp, testNow))
}

func TestInspectIssuer(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	other := newHierarchy(t, KeyEC256) // same names, different root cert
	otherRootKey := testKey(t, KeyEC384, "otherroot")
	other.root = mkCert(t, certOpts{cn: "another root", key: otherRootKey, isCA: true}, nil, nil)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter)
	exp := expectFor(h)
	exp.Roots = []*x509.Certificate{other.root}
	r := Inspect(cf, kf, exp, testNow)
	if len(r.Problems) != 1 || r.Problems[0].Kind != ProblemIssuer ||
		!strings.HasPrefix(r.Problems[0].Detail, "not issued by the configured issuer: certificate signed by unknown authority") {
		t.Fatalf("problems = %q", kinds(r))
	}
	exp.Roots = []*x509.Certificate{}
	wantProblems(t, Inspect(cf, kf, exp, testNow), "issuer: not issued by the configured issuer (its ca does not exist yet)")
	exp.Roots = nil
	wantProblems(t, Inspect(cf, kf, exp, testNow))
	// Without its intermediate the leaf does not verify.
	cf, kf = pairFiles(t, keyPEM(t, h.leafKey), h.leaf)
	exp.Roots = []*x509.Certificate{h.root}
	if r := Inspect(cf, kf, exp, testNow); !r.Has(ProblemIssuer) || len(r.Problems) != 1 {
		t.Fatalf("problems = %q", kinds(r))
	}
	// An expired leaf is reported once, as expired, not also as foreign.
	cf, kf = pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.inter)
	if r := Inspect(cf, kf, expectFor(h), h.leaf.NotAfter.Add(time.Hour)); r.Has(ProblemIssuer) {
		t.Fatalf("problems = %q", kinds(r))
	}
}

func TestInspectSHA1(t *testing.T) {
	h := newHierarchy(t, KeyRSA2048)
	rsaCAKey := testKey(t, KeyRSA2048, "sha1ca")
	ca := mkCert(t, certOpts{cn: "sha1 ca", key: rsaCAKey, isCA: true, sigAlg: x509.SHA1WithRSA}, nil, nil)
	leaf := mkCert(t, certOpts{cn: "web.example.com", dns: []string{"web.example.com"}, key: h.leafKey, sigAlg: x509.SHA1WithRSA}, ca, rsaCAKey)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), leaf, ca)
	exp := Expect{DNSNames: []string{"web.example.com"}}
	// The self-signed root's own SHA-1 signature is not reported.
	wantProblems(t, Inspect(cf, kf, exp, testNow), "sha1: certificate is signed with sha1-rsa, which tls clients reject")
	exp.Roots = []*x509.Certificate{ca}
	r := Inspect(cf, kf, exp, testNow)
	if !r.Has(ProblemSHA1) || !r.Has(ProblemIssuer) || r.Has(ProblemChainOrder) {
		t.Fatalf("problems = %q", kinds(r))
	}
}

func TestInspectChainOrder(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	cf, kf := pairFiles(t, keyPEM(t, h.leafKey), h.inter, h.leaf)
	r := Inspect(cf, kf, Expect{}, testNow)
	wantProblems(t, r,
		"mismatch: private key does not match the certificate's public key",
		"chain_order: the certificate matching the key is number 2 in the file; the leaf must come first",
		"chain_order: certificate 2 (cn=web.example.com) is not the issuer of certificate 1 (cn=test intermediate); the file must hold the leaf first, then each issuer in turn")
	// Leaf first but root before intermediate.
	cf, kf = pairFiles(t, keyPEM(t, h.leafKey), h.leaf, h.root, h.inter)
	wantProblems(t, Inspect(cf, kf, Expect{}, testNow),
		"chain_order: certificate 2 (cn=test root) is not the issuer of certificate 1 (cn=web.example.com); the file must hold the leaf first, then each issuer in turn")
}

// InspectData of the bytes in a pair of files is Inspect of the files:
// the same problems, in the same order, and the same leaf and chain.
func TestInspectDataIsInspect(t *testing.T) {
	h := newHierarchy(t, KeyEC256)
	other := testKey(t, KeyEC256, "other")
	good := keyPEM(t, h.leafKey)
	exp := expectFor(h)
	narrow := exp
	narrow.DNSNames = []string{"api.example.com"}
	narrow.KeyType = KeyRSA2048
	cases := []struct {
		name      string
		cert, key []byte
		exp       Expect
		now       time.Time
	}{
		{"ok", EncodeCertsPEM(h.leaf, h.inter), good, exp, testNow},
		{"mismatch", EncodeCertsPEM(h.leaf, h.inter), keyPEM(t, other), exp, testNow},
		{"chain order", EncodeCertsPEM(h.inter, h.leaf), good, exp, testNow},
		{"expired", EncodeCertsPEM(h.leaf, h.inter), good, exp, h.leaf.NotAfter.Add(time.Second)},
		{"policy", EncodeCertsPEM(h.leaf, h.inter), good, narrow, testNow},
		{"other roots", EncodeCertsPEM(h.leaf, h.inter), good, Expect{Roots: []*x509.Certificate{h.inter}}, testNow},
		{"no chain", EncodeCertsPEM(h.leaf), good, exp, testNow},
		{"garbage cert", []byte("garbage\n"), good, exp, testNow},
		{"garbage key", EncodeCertsPEM(h.leaf, h.inter), []byte("garbage\n"), exp, testNow},
		{"der", h.leaf.Raw, good, exp, testNow},
	}
	for _, c := range cases {
		cf, kf := pairFiles(t, c.key, h.leaf)
		writeFile(t, filepath.Dir(cf), filepath.Base(cf), c.cert)
		for _, key := range []string{kf, ""} {
			want := Inspect(cf, key, c.exp, c.now)
			got := InspectData(cf, c.cert, key, c.key, c.exp, c.now)
			if !slices.Equal(kinds(got), kinds(want)) || !slices.Equal(got.Problems, want.Problems) {
				t.Errorf("%s (key %q): InspectData %q, Inspect %q", c.name, key, kinds(got), kinds(want))
			}
			if (got.Leaf == nil) != (want.Leaf == nil) || got.Leaf != nil && !got.Leaf.Equal(want.Leaf) ||
				len(got.Chain) != len(want.Chain) || got.KeyType != want.KeyType {
				t.Errorf("%s (key %q): InspectData leaf/chain/key type differ from Inspect's", c.name, key)
			}
		}
	}
}

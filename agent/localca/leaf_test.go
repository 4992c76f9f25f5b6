package localca

import (
	"bytes"
	"context"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
)

func TestLeafProperties(t *testing.T) {
	ca, _ := newCA(t, issuerCfg("ec256", 0))
	fixed := time.Now().Truncate(time.Second)
	ca.now = func() time.Time { return fixed }
	cases := []struct {
		kt             pki.KeyType
		server, client bool
		eku            []x509.ExtKeyUsage
		usage          x509.KeyUsage
	}{
		{pki.KeyEC256, true, false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, x509.KeyUsageDigitalSignature},
		{pki.KeyEC384, false, true, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, x509.KeyUsageDigitalSignature},
		{pki.KeyRSA2048, true, true, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		{pki.KeyEd25519, false, false, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, x509.KeyUsageDigitalSignature},
	}
	for _, c := range cases {
		t.Run(string(c.kt), func(t *testing.T) {
			req := webRequest()
			req.KeyType, req.ServerAuth, req.ClientAuth = c.kt, c.server, c.client
			b := issue(t, ca, req)
			l, root := b.Leaf, b.Roots[0]
			if kt, _ := pki.KeyTypeOf(b.Key); kt != c.kt || !pki.KeyMatches(l, b.Key) {
				t.Fatalf("key type %q, matches %v", kt, pki.KeyMatches(l, b.Key))
			}
			if l.Subject.CommonName != "web.example.com" || !slices.Equal(l.DNSNames, req.DNSNames) ||
				!slices.EqualFunc(l.IPAddresses, req.IPAddresses, net.IP.Equal) {
				t.Errorf("names: cn %q dns %v ip %v", l.Subject.CommonName, l.DNSNames, l.IPAddresses)
			}
			if !slices.Equal(l.ExtKeyUsage, c.eku) || l.KeyUsage != c.usage {
				t.Errorf("eku %v keyusage %b, want %v %b", l.ExtKeyUsage, l.KeyUsage, c.eku, c.usage)
			}
			if l.IsCA || !l.BasicConstraintsValid {
				t.Errorf("leaf must carry basic constraints ca:false")
			}
			if l.SerialNumber.BitLen() != 128 || l.SerialNumber.Sign() <= 0 {
				t.Errorf("serial %x has %d bits", l.SerialNumber, l.SerialNumber.BitLen())
			}
			ski, _ := subjectKeyID(b.Key.Public())
			if !bytes.Equal(l.SubjectKeyId, ski) || !bytes.Equal(l.AuthorityKeyId, root.SubjectKeyId) || len(root.SubjectKeyId) == 0 {
				t.Errorf("ski %x (want %x), aki %x (want %x)", l.SubjectKeyId, ski, l.AuthorityKeyId, root.SubjectKeyId)
			}
			if !l.NotBefore.Equal(fixed.Add(-5*time.Minute)) || !l.NotAfter.Equal(fixed.Add(30*24*time.Hour)) {
				t.Errorf("validity %s .. %s", l.NotBefore, l.NotAfter)
			}
			if b.Chain != nil || len(b.Roots) != 1 {
				t.Errorf("chain %v, %d roots", b.Chain, len(b.Roots))
			}
			exp := pki.Expect{DNSNames: req.DNSNames, IPs: req.IPAddresses, KeyType: c.kt, Roots: b.Roots, MinRSABits: 2048}
			dir := t.TempDir()
			certFile, keyFile := writePair(t, dir, b)
			if r := pki.Inspect(certFile, keyFile, exp, fixed); !r.OK() {
				t.Errorf("Inspect: %v", r.Problems)
			}
		})
	}
}

// writePair writes the bundle as cert.pem, key.pem and ca.pem in dir.
func writePair(t *testing.T, dir string, b *agent.Bundle) (certFile, keyFile string) {
	t.Helper()
	key, err := pki.EncodeKeyPEM(b.Key, "")
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for p, data := range map[string][]byte{
		certFile:                     pki.EncodeCertsPEM(b.Leaf),
		keyFile:                      key,
		filepath.Join(dir, "ca.pem"): pki.EncodeCertsPEM(b.Roots...),
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func TestLeafValidityDefaultAndClamp(t *testing.T) {
	ca, _ := newCA(t, issuerCfg("ec256", 100*24*time.Hour))
	fixed := time.Now().Truncate(time.Second)
	ca.now = func() time.Time { return fixed }
	req := webRequest()
	req.Validity = 0
	if b := issue(t, ca, req); !b.Leaf.NotAfter.Equal(fixed.Add(90 * 24 * time.Hour)) {
		t.Errorf("default validity: NotAfter %s", b.Leaf.NotAfter)
	}
	req.Validity = 365 * 24 * time.Hour
	b := issue(t, ca, req)
	if !b.Leaf.NotAfter.Equal(b.Roots[0].NotAfter) {
		t.Errorf("leaf NotAfter %s not clamped to ca NotAfter %s", b.Leaf.NotAfter, b.Roots[0].NotAfter)
	}
	ca.now = func() time.Time { return fixed.Add(101 * 24 * time.Hour) }
	_, err := ca.Issue(context.Background(), req)
	want := `local ca "cluster": ca certificate expired at ` + b.Roots[0].NotAfter.UTC().Format(time.RFC3339) + `; remove ` + ca.dir + ` to start a new ca`
	if err == nil || err.Error() != want {
		t.Fatalf("expired ca: %v\nwant %s", err, want)
	}
}

// TestConcurrentFirstUse issues from many goroutines on two CA objects
// over one directory (as a daemon and `certagent renew` would): exactly
// one CA must result and every leaf must chain to it.
func TestConcurrentFirstUse(t *testing.T) {
	a, dir := newCA(t, issuerCfg("ec256", 0))
	b := New("cluster", dir, issuerCfg("ec256", 0))
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		leaves []*agent.Bundle
		errs   []error
	)
	for i := range 16 {
		ca := a
		if i%2 == 1 {
			ca = b
		}
		wg.Go(func() {
			bundle, err := ca.Issue(context.Background(), webRequest())
			mu.Lock()
			defer mu.Unlock()
			leaves, errs = append(leaves, bundle), append(errs, err)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	roots, err := New("cluster", dir, nil).Roots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(roots[0])
	serials := map[string]bool{}
	for _, l := range leaves {
		if _, err := l.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "web.example.com"}); err != nil {
			t.Fatalf("leaf does not chain to the one ca on disk: %v", err)
		}
		serials[l.Leaf.SerialNumber.String()] = true
	}
	if len(serials) != 16 {
		t.Fatalf("%d distinct serials for 16 leaves", len(serials))
	}
}

// TestRSACAForVega covers the preset that needs an RSA >= 3072 CA.
func TestRSACAForVega(t *testing.T) {
	types := []string{"rsa3072"}
	if !testing.Short() {
		types = append(types, "rsa4096")
	}
	for _, kt := range types {
		ca, _ := newCA(t, issuerCfg(kt, 0))
		req := webRequest()
		req.KeyType = pki.KeyRSA3072
		b := issue(t, ca, req)
		if got, _ := pki.KeyTypeOf(b.Roots[0].PublicKey); string(got) != kt {
			t.Fatalf("ca key type %q, want %s", got, kt)
		}
		if err := b.Leaf.CheckSignatureFrom(b.Roots[0]); err != nil {
			t.Fatal(err)
		}
		if b.Leaf.SignatureAlgorithm != x509.SHA256WithRSA {
			t.Fatalf("signature %s", b.Leaf.SignatureAlgorithm)
		}
	}
}

func TestRandomSerial(t *testing.T) {
	seen := map[string]bool{}
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for range 200 {
		s, err := randomSerial()
		if err != nil || s.BitLen() != 128 || s.Cmp(limit) >= 0 || seen[s.String()] {
			t.Fatalf("serial %x: %v", s, err)
		}
		seen[s.String()] = true
	}
}

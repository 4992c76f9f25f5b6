package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/agent/pki"
)

// BenchmarkRawIssue is the raw limit bench/run compares certagent's local
// CA with: generate a key, sign a leaf with an EC P-256 CA, and write key
// and cert to two new files in one directory with one fsync each, then
// fsync the directory once when the run's N certs are written. That is
// the file layout of certagent's bench config (one output directory),
// with each file and the directory made durable once per batch, as
// certagent's group commit does; without its journal, staging, temp
// names and renames: what no crash-safe agent can beat. "seq" issues one
// cert at a time; "par" keeps every CPU busy (RunParallel), which is the
// machine's limit for an agent that issues concurrently.
func BenchmarkRawIssue(b *testing.B) {
	caKey, caCert := newCA(b)
	for _, kt := range []string{"ec256", "rsa3072"} {
		b.Run(kt+"-seq", func(b *testing.B) {
			dir := b.TempDir()
			for i := 0; b.Loop(); i++ {
				rawOne(b, caKey, caCert, kt, dir, i)
			}
			syncDir(b, dir)
		})
		b.Run(kt+"-par", func(b *testing.B) {
			dir := b.TempDir()
			var n atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					rawOne(b, caKey, caCert, kt, dir, int(n.Add(1)))
				}
			})
			syncDir(b, dir)
		})
	}
}

func syncDir(b *testing.B, dir string) {
	d, err := os.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		b.Fatal(err)
	}
}

func rawOne(b *testing.B, caKey crypto.Signer, caCert *x509.Certificate, kt, dir string, i int) {
	key := genKey(b, kt)
	der := signLeaf(b, caKey, caCert, key.Public(), i)
	kd, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	base := filepath.Join(dir, fmt.Sprintf("c%d", i))
	writeSync(b, base+".key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}))
	writeSync(b, base+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// BenchmarkLocalCAIssue is certagent's local CA alone (key generation and
// signing in memory, no files): the share of certagent's per-cert time
// that is crypto rather than writing.
func BenchmarkLocalCAIssue(b *testing.B) {
	ca := localca.New("bench", filepath.Join(b.TempDir(), "ca"), &config.Issuer{Type: "local", KeyType: "ec256",
		CommonName: "certagent bench CA", Validity: config.Duration{Duration: config.DefaultCAValidity}})
	ctx := context.Background()
	if _, err := ca.Roots(ctx); err != nil {
		b.Fatal(err)
	}
	for _, kt := range []pki.KeyType{pki.KeyEC256, pki.KeyRSA3072} {
		b.Run(string(kt), func(b *testing.B) {
			for b.Loop() {
				_, err := ca.Issue(ctx, agent.Request{Name: "b", DNSNames: []string{"b.example"},
					ServerAuth: true, KeyType: kt, Validity: 90 * 24 * time.Hour})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func newCA(b *testing.B) (crypto.Signer, *x509.Certificate) {
	b.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		b.Fatal(err)
	}
	return key, cert
}

func genKey(b *testing.B, kt string) crypto.Signer {
	var k crypto.Signer
	var err error
	switch kt {
	case "ec256":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa3072":
		k, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func signLeaf(b *testing.B, caKey crypto.Signer, ca *x509.Certificate, pub crypto.PublicKey, i int) []byte {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		b.Fatal(err)
	}
	name := fmt.Sprintf("c%d.example", i)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-5 * time.Minute), NotAfter: time.Now().Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		b.Fatal(err)
	}
	return der
}

func writeSync(b *testing.B, path string, data []byte) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

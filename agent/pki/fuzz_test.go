package pki

import (
	"bytes"
	"crypto"
	"net"
	"path/filepath"
	"testing"
)

// The seed corpora live in testdata/fuzz/<target>; `go test` runs them as
// regular tests and `go test -fuzz` extends them.

func FuzzParseCertsPEM(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		certs, err := ParseCertsPEM(b)
		if err != nil {
			if certs != nil {
				t.Fatal("certs returned with an error")
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no error and no certs")
		}
		again, err := ParseCertsPEM(EncodeCertsPEM(certs...))
		if err != nil || len(again) != len(certs) {
			t.Fatalf("round trip: %d certs, %v", len(again), err)
		}
		for i := range certs {
			if !certs[i].Equal(again[i]) {
				t.Fatalf("round trip changed certificate %d", i+1)
			}
		}
	})
}

func FuzzParseKeyPEM(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := ParseKeyPEM(b)
		if err != nil {
			if bytes.Contains([]byte(err.Error()), []byte("MII")) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		out, err := EncodeKeyPEM(key, "")
		if err != nil {
			t.Fatalf("parsed key does not encode: %v", err)
		}
		again, err := ParseKeyPEM(out)
		if err != nil {
			t.Fatalf("re-encoded key does not parse: %v", err)
		}
		if !again.Public().(interface {
			Equal(crypto.PublicKey) bool
		}).Equal(key.Public()) {
			t.Fatal("round trip changed the key")
		}
	})
}

// FuzzInspect feeds arbitrary cert and key files to Inspect, which must
// neither panic nor call a pair good without a leaf.
func FuzzInspect(f *testing.F) {
	f.Add([]byte("x"), []byte("y"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		dir := t.TempDir()
		cf := writeFile(t, dir, "cert.pem", certPEM)
		kf := writeFile(t, dir, "key.pem", keyPEM)
		exp := Expect{DNSNames: []string{"web.example.com"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, MinRSABits: 2048}
		r := Inspect(cf, kf, exp, testNow)
		if r.OK() && r.Leaf == nil {
			t.Fatal("ok report without a leaf")
		}
		for _, p := range r.Problems {
			if p.File != cf && p.File != kf {
				t.Fatalf("problem names an unknown file: %+v", p)
			}
		}
		_ = Inspect(cf, filepath.Join(dir, "absent.pem"), exp, testNow)
	})
}

package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// cmdPairs checks every DIR/NAME.crt against DIR/NAME.key: the cert
// parses, the key parses and is the cert's key, and (with -ca) the cert
// is signed by the CA cert. It prints pairs=N bad=M and fails if any is
// wrong or fewer than -n pairs exist.
func cmdPairs(args []string) error {
	fs := flag.NewFlagSet("pairs", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory of NAME.crt and NAME.key files")
	n := fs.Int("n", 0, "pairs expected")
	caFile := fs.String("ca", "", "PEM CA cert every cert must be signed by (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var ca *x509.Certificate
	if *caFile != "" {
		c, err := readCert(*caFile)
		if err != nil {
			return err
		}
		ca = c
	}
	crts, err := filepath.Glob(filepath.Join(*dir, "*.crt"))
	if err != nil {
		return err
	}
	bad := 0
	for _, crt := range crts {
		if err := checkPair(crt, strings.TrimSuffix(crt, ".crt")+".key", ca); err != nil {
			bad++
			if bad <= 5 {
				fmt.Fprintf(os.Stderr, "%s: %v\n", crt, err)
			}
		}
	}
	fmt.Printf("pairs=%d bad=%d\n", len(crts), bad)
	if bad > 0 || len(crts) < *n {
		return fmt.Errorf("%d pairs, %d bad, want %d good", len(crts), bad, *n)
	}
	return nil
}

func readCert(p string) (*x509.Certificate, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

func checkPair(crt, key string, ca *x509.Certificate) error {
	c, err := readCert(crt)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(key)
	if err != nil {
		return err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return errors.New("key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		if k, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
			return fmt.Errorf("key: %w", err)
		}
	}
	type pub interface{ Equal(crypto.PublicKey) bool }
	var p crypto.PublicKey
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		p = k.Public()
	case *rsa.PrivateKey:
		p = k.Public()
	case ed25519.PrivateKey:
		p = k.Public()
	default:
		return fmt.Errorf("key: unsupported type %T", k)
	}
	if !p.(pub).Equal(c.PublicKey) {
		return errors.New("key does not match the cert")
	}
	if ca != nil {
		if err := c.CheckSignatureFrom(ca); err != nil {
			return fmt.Errorf("not signed by the CA: %w", err)
		}
	}
	return nil
}

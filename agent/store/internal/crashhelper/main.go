// Command crashhelper is driven by agent/store's crash test: built with
// -tags failpoint, it recovers a state directory and then commits fresh
// ECDSA key/cert/fullchain sets for several certs concurrently, round
// after round, until it is killed (by a failpoint or by the test).
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/certagent/certagent/agent/store"
	"github.com/hashicorp/go-hclog"
)

func main() {
	state := flag.String("state", "", "state directory")
	out := flag.String("out", "", "output root; cert N writes out/cN/")
	certs := flag.Int("certs", 4, "number of certs")
	rounds := flag.Int("rounds", 1000, "rounds of renewals")
	flag.Parse()
	if err := run(*state, *out, *certs, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "crashhelper:", err)
		panic(err) // non-zero exit without os.Exit
	}
}

func run(state, out string, certs, rounds int) error {
	s, err := store.Open(state, hclog.NewNullLogger())
	if err != nil {
		return err
	}
	release, err := s.Lock(context.Background())
	if err != nil {
		return err
	}
	defer release()
	rep, err := s.Recover(allowed(out, certs))
	if err != nil {
		return err
	}
	if len(rep.Refused) > 0 {
		return fmt.Errorf("recovery refused records this helper wrote: %v", rep.Refused)
	}
	fmt.Println("ready")
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, certs)
		for i := range certs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := renew(s, out, fmt.Sprintf("c%d", i)); err != nil {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return err
		}
	}
	return nil
}

// allowed is what renew writes and queues, as an agent's configuration
// would list it.
func allowed(out string, certs int) store.Allowed {
	allow := store.Allowed{}
	for i := range certs {
		name := fmt.Sprintf("c%d", i)
		ac := store.AllowedCert{Intents: []store.Intent{{Unit: "u-" + name + ".service", Action: "restart", Cert: name}}}
		for _, base := range []string{"key.pem", "cert.pem", "fullchain.pem"} {
			ac.Outputs = append(ac.Outputs, store.Output{Path: filepath.Join(out, name, base)})
		}
		allow[name] = ac
	}
	return allow
}

// renew is one attempt: staging scratch file, new pair, Commit.
func renew(s *store.Store, out, name string) error {
	staging, cleanup, err := s.Staging(name)
	if err != nil {
		return err
	}
	defer cleanup()
	key, cert, err := newPair(name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staging, "scratch.pem"), key, 0o600); err != nil {
		return err
	}
	dir := filepath.Join(out, name)
	file := func(base string, data []byte, mode os.FileMode) store.File {
		return store.File{Path: filepath.Join(dir, base), Data: data, Mode: mode, UID: -1, GID: -1, DirMode: 0o750}
	}
	files := []store.File{
		file("key.pem", key, 0o600),
		file("cert.pem", cert, 0o644),
		file("fullchain.pem", append(append([]byte{}, cert...), cert...), 0o644),
	}
	intents := []store.Intent{{Unit: "u-" + name + ".service", Action: "restart", Cert: name}}
	_, err = s.Commit(name, files, intents)
	return err
}

func newPair(cn string) (key, cert []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	kd, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

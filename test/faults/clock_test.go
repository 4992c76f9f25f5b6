package faults

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/testbin"
)

// jumpClock is the agent's wall clock: the (synctest) time plus an
// offset that the test moves to simulate NTP steps or a wrong RTC.
type jumpClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *jumpClock) jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// clockCA issues certs dated by the same jumping clock, as a real CA on
// the same host (or a CA whose clock is right while ours jumped) would.
// It counts issuances per cert and passes (Roots is asked once a pass);
// past maxPasses it stops the agent, so a hot loop fails the test
// instead of spinning forever.
type clockCA struct {
	clock     *jumpClock
	key       *ecdsa.PrivateKey
	cert      *x509.Certificate
	mu        sync.Mutex
	issued    map[string]int
	passes    int
	maxPasses int
	stop      context.CancelFunc
}

func newClockCA(t *testing.T, clock *jumpClock) *clockCA {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := clock.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "clock test CA"},
		NotBefore: now.AddDate(-1, 0, 0), NotAfter: now.AddDate(20, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &clockCA{clock: clock, key: key, cert: cert, issued: map[string]int{}, maxPasses: 5000}
}

func (ca *clockCA) Issue(ctx context.Context, req agent.Request) (*agent.Bundle, error) {
	key, err := pki.GenerateKey(req.KeyType)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	nb := ca.clock.Now().Add(-5 * time.Minute)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: req.CommonName},
		DNSNames: req.DNSNames, NotBefore: nb, NotAfter: nb.Add(req.Validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, err
	}
	leaf, _ := x509.ParseCertificate(der)
	ca.mu.Lock()
	ca.issued[req.Name]++
	ca.mu.Unlock()
	return &agent.Bundle{Key: key, Leaf: leaf, Roots: []*x509.Certificate{ca.cert}}, nil
}

func (ca *clockCA) Roots(context.Context) ([]*x509.Certificate, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	ca.passes++
	if ca.passes > ca.maxPasses && ca.stop != nil {
		ca.stop()
	}
	return []*x509.Certificate{ca.cert}, nil
}

// counts returns (total issuances, the largest per cert, passes so far).
func (ca *clockCA) counts() (total, most, passes int) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	for _, n := range ca.issued {
		total += n
		most = max(most, n)
	}
	return total, most, ca.passes
}

// TestClockJumps runs the real agent (agent.New, Run) with an injected
// wall clock under testing/synctest: +60 days renews every cert exactly
// once; -1 day right after that leaves nothing hot-looping and warns
// once per cert that it is not valid yet (the clock is suspect); and a
// quiet stretch afterwards neither issues nor wakes up more than the
// hourly re-plan.
func TestClockJumps(t *testing.T) {
	const certs = 5
	dir := t.TempDir()
	var b strings.Builder
	fmt.Fprintf(&b, "[agent]\nstate_dir = %q\n\n[issuers.ca]\ntype = \"local\"\n", filepath.Join(dir, "state"))
	for i := 0; i < certs; i++ {
		fmt.Fprintf(&b, "\n[certs.c%d]\nissuer = \"ca\"\ndns_names = [\"c%d.example.com\"]\nkey_type = \"ec256\"\nvalidity = \"30d\"\n", i, i)
		fmt.Fprintf(&b, "cert_file = %q\nkey_file = %q\n", filepath.Join(dir, "out", fmt.Sprint(i), "cert.pem"), filepath.Join(dir, "out", fmt.Sprint(i), "key.pem"))
	}
	cfg, err := config.Parse("clock.toml", []byte(b.String()), config.Options{SkipFileChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	synctest.Test(t, func(t *testing.T) {
		clock := &jumpClock{}
		ca := newClockCA(t, clock)
		st, err := store.Open(filepath.Join(dir, "state"), nil)
		if err != nil {
			t.Fatal(err)
		}
		logs := &testbin.SyncBuffer{}
		log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Info})
		a, err := agent.New(agent.Options{Config: cfg, Issuers: map[string]agent.Issuer{"ca": ca}, Store: st, Clock: clock, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		ca.stop = cancel
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx) }()
		synctest.Wait()
		expect := func(phase string, wantTotal, wantMost, maxPasses int, p0 int) int {
			t.Helper()
			total, most, passes := ca.counts()
			if total != wantTotal || most != wantMost {
				t.Errorf("%s: %d issuances (at most %d for one cert), want %d (%d)", phase, total, most, wantTotal, wantMost)
			}
			if passes-p0 > maxPasses {
				t.Errorf("%s: %d passes, want at most %d (hot loop)", phase, passes-p0, maxPasses)
			}
			lines = append(lines, fmt.Sprintf("%s: %d issuances, %d passes", phase, total, passes-p0))
			return passes
		}
		p := expect("start", certs, 1, 2, 0)

		time.Sleep(6 * time.Hour)
		synctest.Wait()
		p = expect("6h later", certs, 1, 8, p)

		clock.jump(60 * 24 * time.Hour)
		time.Sleep(time.Hour + time.Minute) // the hourly re-plan notices
		synctest.Wait()
		p = expect("+60d", 2*certs, 2, 3, p)
		checkValidAt(t, cfg, clock.Now())

		clock.jump(-24 * time.Hour)
		time.Sleep(2 * time.Hour) // the hourly re-plan notices
		synctest.Wait()
		// Every cert was issued within the last day of the old clock,
		// so it is not valid yet: one warning per cert, naming the clock.
		nyv := strings.Count(logs.String(), "event=not_yet_valid")
		if nyv != certs {
			t.Errorf("-1d: %d not_yet_valid warnings in 2 h, want %d (one per cert):\n%s", nyv, certs, logs.String())
		}
		lines = append(lines, fmt.Sprintf("-1d: %d not_yet_valid warnings", nyv))
		time.Sleep(22 * time.Hour)
		synctest.Wait()
		total, _, _ := ca.counts()
		if total > 3*certs {
			t.Errorf("-1d: %d issuances; at most one more per cert is acceptable", total)
		}
		p = expect("-1d, 24h later", total, 2+(total-2*certs)/certs, 30, p)
		checkValidAt(t, cfg, clock.Now())

		time.Sleep(7 * 24 * time.Hour)
		synctest.Wait()
		expect("7d quiet", total, 2+(total-2*certs)/certs, 7*24+10, p)

		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	figure(t, "clock: %s", strings.Join(lines, "; "))
}

// checkValidAt verifies every cert on disk matches its key and is valid
// at now.
func checkValidAt(t *testing.T, cfg *config.Config, now time.Time) {
	t.Helper()
	for _, name := range cfg.CertNames() {
		c := cfg.Certs[name]
		if err := pairMatches(c.CertFile, c.KeyFile); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		b, _ := os.ReadFile(c.CertFile)
		cs, _ := pki.ParseCertsPEM(b)
		if now.Before(cs[0].NotBefore) || now.After(cs[0].NotAfter) {
			t.Errorf("%s: cert valid %s..%s, not at %s", name, cs[0].NotBefore, cs[0].NotAfter, now)
		}
	}
}

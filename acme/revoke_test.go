package acme

import (
	"context"
	"crypto/x509"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/pebbletest"
)

func revokeWith(i *Issuer, b *agent.Bundle, reason agent.RevocationReason) error {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	return i.Revoke(ctx, agent.RevokeRequest{Name: "web", Cert: b.Leaf, Chain: b.Chain, Reason: reason})
}

// Revoke reaches Pebble with the account and the reason: its management
// API then reports the serial revoked. A second revoke is success. An
// account that neither ordered the cert nor holds its authorizations
// gets the CA's problem text, and the serial stays valid.
func TestRevokeAtPebble(t *testing.T) {
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	b := mustIssue(t, srv, i, request(t, "revoke.example.com"))
	other := newIssuer(t, issuerConfig(srv), filepath.Join(t.TempDir(), "acme", "other"))
	mustIssue(t, srv, other, request(t, "elsewhere.example.com")) // registers the account
	ctx := context.Background()

	err := revokeWith(other, b, agent.ReasonKeyCompromise)
	var pe *ProblemError
	if err == nil || !errors.As(err, &pe) || !strings.Contains(err.Error(), "unauthorized") {
		t.Fatalf("revoke by a stranger account: %v", err)
	}
	if st, _, err := srv.CertStatus(ctx, b.Leaf.SerialNumber); err != nil || st != "Valid" {
		t.Fatalf("after a refused revoke: status %q, %v", st, err)
	}

	if err := revokeWith(i, b, agent.ReasonKeyCompromise); err != nil {
		t.Fatalf("Revoke: %v\n%s", err, tail(srv.Log(), 20))
	}
	st, reason, err := srv.CertStatus(ctx, b.Leaf.SerialNumber)
	if err != nil || st != "Revoked" || reason != int(agent.ReasonKeyCompromise) {
		t.Fatalf("pebble says %q reason %d (%v), want Revoked keyCompromise", st, reason, err)
	}
	if err := revokeWith(i, b, agent.ReasonKeyCompromise); err != nil {
		t.Fatalf("second revoke of the same serial: %v", err)
	}
}

// With the CA down, the revoke fails with the connection error.
func TestRevokeCADown(t *testing.T) {
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	b := mustIssue(t, srv, i, request(t, "down.example.com"))
	srv.Stop()
	i.forgetAccount()
	err := revokeWith(i, b, agent.ReasonSuperseded)
	if err == nil || !strings.Contains(err.Error(), "connect") {
		t.Fatalf("revoke with the CA down: %v", err)
	}
}

// Pebble's leaves name no CRL Distribution Point: CRL says so with
// agent.ErrNoCRL instead of fetching anything.
func TestCRLWithoutDistributionPoint(t *testing.T) {
	srv := pebbletest.Start(t, pebbletest.Options{})
	i := newIssuer(t, issuerConfig(srv), "")
	b := mustIssue(t, srv, i, request(t, "nocrl.example.com"))
	_, err := i.CRL(context.Background(), b.Leaf, b.Chain)
	if !errors.Is(err, agent.ErrNoCRL) || !strings.Contains(err.Error(), "names no CRL Distribution Point") {
		t.Fatalf("CRL of a leaf without CDP: %v", err)
	}
}

// fetchCRL takes DER or PEM, and reports HTTP errors with the URL.
func TestFetchCRL(t *testing.T) {
	der := []byte{0x30, 0x03, 0x02, 0x01, 0x01}
	mux := http.NewServeMux()
	mux.HandleFunc("/der", func(w http.ResponseWriter, _ *http.Request) { w.Write(der) })
	mux.HandleFunc("/pem", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("-----BEGIN X509 CRL-----\nMAMCAQE=\n-----END X509 CRL-----\n"))
	})
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, p := range []string{"/der", "/pem"} {
		got, err := fetchCRL(ctx, hs.Client(), hs.URL+p)
		if err != nil || string(got) != string(der) {
			t.Fatalf("%s: %x %v", p, got, err)
		}
	}
	if _, err := fetchCRL(ctx, hs.Client(), hs.URL+"/missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("missing CRL: %v", err)
	}
}

// A leaf naming a CRL Distribution Point gets that CRL, fetched over the
// issuer's HTTP client; no ACME server is contacted.
func TestCRLFromDistributionPoint(t *testing.T) {
	crlDER := []byte{0x30, 0x03, 0x02, 0x01, 0x07}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ca.crl" {
			http.NotFound(w, r)
			return
		}
		w.Write(crlDER)
	}))
	defer hs.Close()
	cfg := &config.Issuer{Type: "acme", Directory: "https://127.0.0.1:1/directory", Challenge: ChallengeHTTP01, HTTPListen: "127.0.0.1:1"}
	i := newIssuer(t, cfg, "")
	leaf := &x509.Certificate{SerialNumber: big.NewInt(5), CRLDistributionPoints: []string{"ldap://x/crl", hs.URL + "/ca.crl"}}
	got, err := i.CRL(context.Background(), leaf, nil)
	if err != nil || string(got) != string(crlDER) {
		t.Fatalf("CRL = %x, %v", got, err)
	}
	leaf.CRLDistributionPoints = []string{hs.URL + "/gone.crl"}
	if _, err := i.CRL(context.Background(), leaf, nil); err == nil || !strings.Contains(err.Error(), "404") || errors.Is(err, agent.ErrNoCRL) {
		t.Fatalf("missing CRL: %v", err)
	}
}

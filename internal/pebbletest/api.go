package pebbletest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Binary finds the named tool (pebble, pebble-challtestsrv) in
// $CERTAGENT_TOOLS, the repository's .cache/bin or $PATH. When it is
// absent the test is skipped, or fails when CI=true.
func Binary(t testing.TB, name string) string {
	t.Helper()
	if path, ok := findBinary(name); ok {
		return path
	}
	msg := fmt.Sprintf("%s %s not found in $CERTAGENT_TOOLS, .cache/bin or $PATH; run test/setup.d/20-pebble.sh", name, Version)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func findBinary(name string) (string, bool) {
	var dirs []string
	if d := os.Getenv("CERTAGENT_TOOLS"); d != "" {
		dirs = append(dirs, d)
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		dirs = append(dirs, filepath.Join(filepath.Dir(file), "..", "..", ".cache", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	return "", false
}

// Roots fetches Pebble's issuing root from the management API (/roots/0).
// Pebble makes a new root at every start, so this is the only way to learn it.
func (s *Server) Roots(ctx context.Context) ([]*x509.Certificate, error) {
	body, err := s.do(ctx, http.MethodGet, s.ManagementURL+"/roots/0", nil)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for block, rest := pem.Decode(body); block != nil; block, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pebbletest: parse root: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("pebbletest: /roots/0 returned no certificate")
	}
	return certs, nil
}

// RootPool returns Roots as a CertPool, failing t on error.
func (s *Server) RootPool(t testing.TB) *x509.CertPool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	roots, err := s.Roots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	return pool
}

// SetRenewalInfo makes Pebble's ARI endpoint answer with the window
// [start, end] for cert (which Pebble must have issued).
func (s *Server) SetRenewalInfo(ctx context.Context, cert *x509.Certificate, start, end time.Time) error {
	ari, err := json.Marshal(map[string]any{
		"suggestedWindow": map[string]string{
			"start": start.UTC().Format(time.RFC3339),
			"end":   end.UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		return err
	}
	req, err := json.Marshal(map[string]string{
		"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		"ariResponse": string(ari),
	})
	if err != nil {
		return err
	}
	_, err = s.do(ctx, http.MethodPost, s.ManagementURL+"/set-renewal-info/", req)
	return err
}

// SetTXT adds a TXT record to challtestsrv's DNS; host is an FQDN with
// the trailing dot, e.g. "_acme-challenge.example.com.".
func (s *Server) SetTXT(ctx context.Context, host, value string) error {
	body, _ := json.Marshal(map[string]string{"host": host, "value": value})
	_, err := s.do(ctx, http.MethodPost, s.ChallSrvURL+"/set-txt", body)
	return err
}

// ClearTXT removes the TXT records of host.
func (s *Server) ClearTXT(ctx context.Context, host string) error {
	body, _ := json.Marshal(map[string]string{"host": host})
	_, err := s.do(ctx, http.MethodPost, s.ChallSrvURL+"/clear-txt", body)
	return err
}

func (s *Server) do(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("pebbletest: %s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("pebbletest: %s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(data))
	}
	return data, nil
}

// CertStatus asks Pebble's management API (/cert-status-by-serial/) what
// it knows of the certificate with serial: "Valid" or "Revoked", and the
// RFC 5280 reason code it recorded for a revoked one.
func (s *Server) CertStatus(ctx context.Context, serial *big.Int) (status string, reason int, err error) {
	body, err := s.do(ctx, http.MethodGet, s.ManagementURL+"/cert-status-by-serial/"+serial.Text(16), nil)
	if err != nil {
		return "", 0, err
	}
	var st struct {
		Status string
		Reason int
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return "", 0, fmt.Errorf("pebbletest: cert status %s: %w: %s", serial.Text(16), err, bytes.TrimSpace(body))
	}
	return st.Status, st.Reason, nil
}

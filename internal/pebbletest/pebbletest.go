// Package pebbletest starts a real Pebble ACME server and its
// pebble-challtestsrv DNS/management sidekick on free loopback ports, with
// fresh configuration and state, for tests of ACME clients.
//
// Each call to Start gives a new, independent pair of processes that are
// killed when the test ends. The binaries are looked up in
// $CERTAGENT_TOOLS, the repository's .cache/bin and $PATH (in that order);
// test/setup.d/20-pebble.sh installs them. When they are missing the test
// is skipped, unless CI=true, where it fails.
package pebbletest

import (
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

var (
	//go:embed testdata/pebble.minica.pem
	minicaPEM []byte
	//go:embed testdata/localhost-cert.pem
	localhostCert []byte
	//go:embed testdata/localhost-key.pem
	localhostKey []byte
)

// Version is the Pebble release the harness is written against.
const Version = "v2.10.1"

// Profile validity periods configured in every Pebble the harness starts.
const (
	DefaultValidity    = 90 * 24 * time.Hour
	ShortlivedValidity = 6 * 24 * time.Hour
)

// Options tune one Pebble instance. The zero value is a fault-free Pebble
// (no nonce rejection, no validation sleep) with the "default" and
// "shortlived" profiles.
type Options struct {
	// retries counts restarts after a port was taken under us.
	retries int

	// HTTPPort and TLSPort are where Pebble's validation authority connects
	// for http-01 and tls-alpn-01 challenges. Zero picks a free port.
	HTTPPort, TLSPort int
	// EAB, when non-nil, makes external account binding required and
	// lists the accepted key IDs with their base64url HMAC keys.
	EAB map[string]string
	// NonceReject is PEBBLE_WFE_NONCEREJECT, the percentage of nonces
	// Pebble rejects.
	NonceReject int
	// Env adds environment variables (PEBBLE_AUTHZREUSE, ...).
	Env map[string]string
	// StartTimeout bounds waiting for the servers to answer; default 20s.
	StartTimeout time.Duration
}

// Server is a running Pebble with its challtestsrv.
type Server struct {
	// DirectoryURL is the ACME directory (https, loopback).
	DirectoryURL string
	// CABundle is a file holding Pebble's test minica root, which signs
	// the certificate of Pebble's HTTPS endpoints (not issued certs).
	CABundle string
	// ManagementURL is Pebble's management API (https).
	ManagementURL string
	// ChallSrvURL is challtestsrv's management API (http).
	ChallSrvURL string
	// DNSAddr is challtestsrv's DNS server, host:port; Pebble resolves
	// through it, and every name resolves to 127.0.0.1.
	DNSAddr string
	// HTTPPort and TLSPort are the ports Pebble validates against.
	HTTPPort, TLSPort int

	client *http.Client
	pebble *proc
	chall  *proc
}

// Start launches Pebble and challtestsrv for t and stops them in
// t.Cleanup. It skips or fails t when the binaries are missing.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	pebbleBin := Binary(t, "pebble")
	challBin := Binary(t, "pebble-challtestsrv")
	dir := t.TempDir()
	s := &Server{HTTPPort: opts.HTTPPort, TLSPort: opts.TLSPort}
	if s.HTTPPort == 0 {
		s.HTTPPort = FreePort(t)
	}
	if s.TLSPort == 0 {
		s.TLSPort = FreePort(t)
	}
	s.DNSAddr = "127.0.0.1:" + strconv.Itoa(FreePort(t))
	challMgmt := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	s.ChallSrvURL = "http://" + challMgmt
	s.CABundle = filepath.Join(dir, "pebble.minica.pem")
	cfgPath := writeFiles(t, dir, s, opts)
	s.client = newClient(s.CABundle)

	s.chall = startProc(t, "challtestsrv", challBin, nil,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-dnsserver", s.DNSAddr, "-management", challMgmt, "-defaultIPv6", "")
	env := map[string]string{
		"PEBBLE_VA_NOSLEEP":      "1",
		"PEBBLE_WFE_NONCEREJECT": strconv.Itoa(opts.NonceReject),
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	s.pebble = startProc(t, "pebble", pebbleBin, env,
		"-config", cfgPath, "-dnsserver", s.DNSAddr)
	t.Cleanup(s.Stop)

	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	if err := s.waitReady(timeout); err != nil {
		s.Stop()
		logs := s.Log() + s.chall.log()
		if strings.Contains(logs, "address already in use") && opts.retries < 3 {
			// Another process took a port between FreePort and bind.
			opts.retries++
			return Start(t, opts)
		}
		t.Fatalf("pebbletest: %v\npebble log:\n%s\nchalltestsrv log:\n%s", err, s.Log(), s.chall.log())
	}
	return s
}

// writeFiles writes the TLS material and Pebble's JSON config into dir
// and fills in the addresses of s; it returns the config path.
func writeFiles(t testing.TB, dir string, s *Server, opts Options) string {
	t.Helper()
	files := map[string][]byte{
		"pebble.minica.pem": minicaPEM,
		"cert.pem":          localhostCert,
		"key.pem":           localhostKey,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatalf("pebbletest: %v", err)
		}
	}
	listen := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	mgmt := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	s.DirectoryURL = "https://" + listen + "/dir"
	s.ManagementURL = "https://" + mgmt
	cfg := map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        mgmt,
		"certificate":                    filepath.Join(dir, "cert.pem"),
		"privateKey":                     filepath.Join(dir, "key.pem"),
		"httpPort":                       s.HTTPPort,
		"tlsPort":                        s.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": opts.EAB != nil,
		"externalAccountMACKeys":         opts.EAB,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{
			"default":    map[string]any{"description": "90 days", "validityPeriod": int(DefaultValidity / time.Second)},
			"shortlived": map[string]any{"description": "6 days", "validityPeriod": int(ShortlivedValidity / time.Second)},
		},
	}
	data, err := json.MarshalIndent(map[string]any{"pebble": cfg}, "", "  ")
	if err != nil {
		t.Fatalf("pebbletest: %v", err)
	}
	path := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("pebbletest: %v", err)
	}
	return path
}

// waitReady polls both servers until they answer or timeout passes.
func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		errP := s.get(s.DirectoryURL)
		errC := s.get(s.ChallSrvURL + "/")
		if errP == nil && errC == nil {
			return nil
		}
		if s.pebble.exited() || s.chall.exited() {
			return fmt.Errorf("pebble or challtestsrv exited early (pebble: %v, challtestsrv: %v)", errP, errC)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s (pebble: %v, challtestsrv: %v)", timeout, errP, errC)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *Server) get(url string) error {
	resp, err := s.client.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// Stop kills both processes; it is idempotent and safe to call from a
// test that wants to simulate a CA outage.
func (s *Server) Stop() {
	s.pebble.stop()
	s.chall.stop()
}

// Log returns what Pebble printed so far.
func (s *Server) Log() string { return s.pebble.log() }

// StopWithStacks stops Pebble with SIGQUIT, which makes the Go runtime
// print every goroutine's stack, and returns its log with them: for a
// Pebble that stopped answering. The server is stopped afterwards.
func (s *Server) StopWithStacks() string {
	_ = s.pebble.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.pebble.done:
	case <-time.After(5 * time.Second):
	}
	s.Stop()
	return s.pebble.log()
}

// CountLog counts the lines of Pebble's log containing substr, e.g.
// AccountCreatedLog to count registrations.
func (s *Server) CountLog(substr string) int {
	n := 0
	for _, line := range strings.Split(s.Log(), "\n") {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// AccountCreatedLog is what Pebble v2.10.1 logs once per new account.
const AccountCreatedLog = "accounts in memory"

// newClient returns an HTTP client that trusts only the minica root,
// with a timeout on every call.
func newClient(bundle string) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(minicaPEM)
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		},
	}
}

// proc is one child process with its captured output.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  testbin.SyncBuffer
	done chan struct{}
	once sync.Once
}

func (p *proc) log() string { return p.out.String() }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
	})
}

// startProc starts bin with args and env added to the test's environment.
// Pdeathsig kills the child should the test binary die first.
func startProc(t testing.TB, name, bin string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	p.cmd.Env = os.Environ()
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("pebbletest: start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	return p
}

// handedOut holds the ports FreePort gave this test binary, so parallel
// tests never get the same one.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// FreePort returns a port on 127.0.0.1 that is free for TCP and UDP right
// now and that this process has not handed out before. It picks at random
// below Linux's ephemeral range (32768+), where the kernel does not put
// the client sockets of other tests, so two test binaries running at once
// (go test runs packages in parallel) rarely want the same port.
func FreePort(t testing.TB) int {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for i := 0; i < 1000; i++ {
		port := 20000 + rand.IntN(12000)
		if handedOut.ports[port] || !portFree(port) {
			continue
		}
		handedOut.ports[port] = true
		return port
	}
	t.Fatalf("pebbletest: no free port found")
	return 0
}

func portFree(port int) bool {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}

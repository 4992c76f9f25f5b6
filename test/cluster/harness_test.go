// Package cluster tests the step issuer (type = "step") against a real
// step-ca v0.30.2 whose PKI, tokens and revocations are made with the
// real step CLI, pinned by test/setup.d/56-step-cli.sh, on loopback.
package cluster

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/testbin"
)

// bin is the certagent binary under test.
var bin string

func TestMain(m *testing.M) {
	b := testbin.MustBuild(false)
	bin = b.Release
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

// stepCA is a PKI made by `step ca init` and the step-ca serving it.
type stepCA struct {
	t      *testing.T
	step   string // the step CLI
	stepCA string // the step-ca binary
	dir    string // STEPPATH
	pwFile string
	addr   string
	URL    string
	Root   string // certs/root_ca.crt
	caJSON string
	// Extra roots the start-up check trusts (after a rotation).
	Extra []string
	cmd   *exec.Cmd
	done  chan struct{}
	log   *testbin.SyncBuffer
}

// newStepCA inits a PKI with a JWK provisioner "admin" whose certs live
// an hour, may be as short as 5 s and may be renewed after expiry, and
// starts step-ca on a free loopback port.
func newStepCA(t *testing.T) *stepCA {
	t.Helper()
	s := &stepCA{t: t, step: testbin.PinnedTool(t, "step", "test/setup.d/56-step-cli.sh"), stepCA: testbin.PinnedTool(t, "step-ca", "test/setup.d/55-stepca.sh"),
		dir: filepath.Join(t.TempDir(), "step"), log: &testbin.SyncBuffer{}}
	s.pwFile = filepath.Join(filepath.Dir(s.dir), "password")
	if err := os.WriteFile(s.pwFile, []byte("certagent-test-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	s.URL = "https://" + s.addr
	s.run("ca", "init", "--name", "certagent test", "--dns", "127.0.0.1", "--dns", "localhost", "--address", s.addr,
		"--provisioner", "admin", "--password-file", s.pwFile, "--provisioner-password-file", s.pwFile,
		"--deployment-type", "standalone")
	s.Root = filepath.Join(s.dir, "certs", "root_ca.crt")
	s.caJSON = filepath.Join(s.dir, "config", "ca.json")
	s.editConfig(func(cfg map[string]any) {
		prov := cfg["authority"].(map[string]any)["provisioners"].([]any)[0].(map[string]any)
		prov["claims"] = map[string]any{"minTLSCertDuration": "5s", "defaultTLSCertDuration": "1h",
			"maxTLSCertDuration": "24h", "allowRenewalAfterExpiry": true}
	})
	s.start()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("step-ca log:\n%s", s.log.String())
		}
	})
	return s
}

// run runs the step CLI against this PKI and returns its stdout.
func (s *stepCA) run(args ...string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.step, args...)
	cmd.Env = append(os.Environ(), "STEPPATH="+s.dir, "HOME="+filepath.Dir(s.dir))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.t.Fatalf("step %s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

func (s *stepCA) editConfig(edit func(map[string]any)) {
	s.t.Helper()
	b, err := os.ReadFile(s.caJSON)
	if err != nil {
		s.t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		s.t.Fatal(err)
	}
	edit(cfg)
	if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.caJSON, b, 0o600); err != nil {
		s.t.Fatal(err)
	}
}

// start runs step-ca until stop and waits until it answers /health.
func (s *stepCA) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.stepCA, "--password-file", s.pwFile, s.caJSON)
	s.cmd.Env = append(os.Environ(), "STEPPATH="+s.dir, "HOME="+filepath.Dir(s.dir))
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start step-ca: %v", err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); close(done) }()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig(s.t, append([]string{s.Root}, s.Extra...)...)}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := hc.Get(s.URL + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-done:
			s.t.Fatalf("step-ca exited at start-up:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("step-ca not ready after 30s (%v):\n%s", err, s.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop kills step-ca (a no-op when it is not running).
func (s *stepCA) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// token mints a one-time token for sub with the given SANs, as an
// operator runs `step ca token` on the CA host.
func (s *stepCA) token(sub string, sans ...string) string {
	s.t.Helper()
	args := []string{"ca", "token", sub, "--ca-url", s.URL, "--root", s.Root, "--password-file", s.pwFile, "--provisioner", "admin"}
	for _, n := range sans {
		args = append(args, "--san", n)
	}
	return strings.TrimSpace(s.run(args...))
}

// fingerprint is what `step certificate fingerprint root_ca.crt` prints.
func (s *stepCA) fingerprint() string {
	s.t.Helper()
	return strings.TrimSpace(s.run("certificate", "fingerprint", s.Root))
}

// count is how many step-ca log lines are requests to path with status.
func (s *stepCA) count(path string, status int) int {
	n := 0
	for _, l := range strings.Split(s.log.String(), "\n") {
		if strings.Contains(l, "path="+path+" ") && strings.Contains(l, "status="+strconv.Itoa(status)+" ") {
			n++
		}
	}
	return n
}

func tlsConfig(t *testing.T, rootFiles ...string) *tls.Config {
	t.Helper()
	pool := x509.NewCertPool()
	for _, f := range rootFiles {
		for _, c := range readCerts(t, f) {
			pool.AddCert(c)
		}
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func readCerts(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := pki.ParseCertsPEM(b)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cs
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// host is one machine's certagent: a config, a state dir with its token
// directory, and an output dir.
type host struct {
	t                            *testing.T
	dir, config, state, out, tok string
}

func newHost(t *testing.T) *host {
	t.Helper()
	d := t.TempDir()
	h := &host{t: t, dir: d, config: filepath.Join(d, "certagent.toml"), state: filepath.Join(d, "state"), out: filepath.Join(d, "tls")}
	h.tok = filepath.Join(h.state, "tokens", "web.token")
	if err := os.MkdirAll(filepath.Dir(h.tok), 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

// stepConfig is a host config with a step issuer "fl" and a cert "web".
// issuer and cert are extra lines for each table.
const stepConfig = `[agent]
state_dir = "{{state}}"

[issuers.fl]
type = "step"
ca_url = "{{url}}"
token_file = "{{token}}"
{{issuer}}

[certs.web]
issuer = "fl"
dns_names = ["web.example.com"]
usage = ["server", "client"]
cert_file = "{{out}}/web.crt"
key_file = "{{out}}/web.key"
ca_file = "{{out}}/ca.crt"
{{cert}}
`

// write renders stepConfig for s with the extra issuer and cert lines.
func (h *host) write(s *stepCA, issuer, cert string) {
	h.t.Helper()
	text := strings.NewReplacer("{{state}}", h.state, "{{out}}", h.out, "{{url}}", s.URL, "{{token}}", h.tok,
		"{{issuer}}", issuer, "{{cert}}", cert).Replace(stepConfig)
	if err := os.WriteFile(h.config, []byte(text), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// putToken writes a token where the issuer reads it, 0600.
func (h *host) putToken(tok string) {
	h.t.Helper()
	if err := os.WriteFile(h.tok, []byte(tok+"\n"), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) path(name string) string { return filepath.Join(h.out, name) }

// result is one finished certagent run.
type result struct {
	code           int
	stdout, stderr string
}

// certagent runs the binary on the host's config.
func (h *host) certagent(args ...string) result {
	h.t.Helper()
	args = append(args, "--config", h.config)
	r := testbin.Exec(h.t, 2*time.Minute, nil, bin, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

// renew runs `certagent renew` and fails the test unless it exits 0.
func (h *host) renew(force bool) result {
	h.t.Helper()
	args := []string{"renew"}
	if force {
		args = append(args, "--force")
	}
	r := h.certagent(args...)
	if r.code != 0 {
		h.t.Fatalf("certagent %v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// snapshot reads every file in the output dir, for byte-identity checks.
func (h *host) snapshot() map[string]string {
	h.t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(h.out)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(h.out, e.Name()))
		if err != nil {
			h.t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

// sameFiles fails the test unless the output dir holds exactly before.
func (h *host) sameFiles(before map[string]string) {
	h.t.Helper()
	after := h.snapshot()
	if len(after) != len(before) {
		h.t.Errorf("output files changed: %d before, %d after", len(before), len(after))
	}
	for name, b := range before {
		if after[name] != b {
			h.t.Errorf("%s changed although the renewal failed", name)
		}
	}
}

// status returns the state and last error of cert "web" from
// `certagent status --json`.
func (h *host) status() (state, lastErr string) {
	h.t.Helper()
	r := h.certagent("status", "--json")
	var rows []struct {
		Name, State string
		LastError   string `json:"last_error"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		h.t.Fatalf("status --json: %v\n%s%s", err, r.stdout, r.stderr)
	}
	for _, c := range rows {
		if c.Name == "web" {
			return c.State, c.LastError
		}
	}
	h.t.Fatalf("status has no cert web:\n%s", r.stdout)
	return "", ""
}

func leafOf(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	return readCerts(t, file)[0]
}

func serial(c *x509.Certificate) string { return fmt.Sprintf("%x", c.SerialNumber) }

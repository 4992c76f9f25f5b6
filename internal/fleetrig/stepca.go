package fleetrig

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// CAPort is where step-ca listens, on the bridge address in its namespace.
const CAPort = "9000"

// StepCA is a PKI made by `step ca init` and the step-ca serving it in the
// CA namespace, with a JWK provisioner "admin" (one-time tokens) and an
// ACME provisioner "acme".
type StepCA struct {
	ns       string
	step     string // the step CLI
	bin      string // step-ca
	dir      string // STEPPATH
	pwFile   string
	jwk      string // the provisioner's decrypted key, for fast tokens
	URL      string
	Root     string // certs/root_ca.crt
	caJSON   string
	logFile  string
	cmd      *exec.Cmd
	done     chan struct{}
	Started  time.Time // when the running step-ca started answering
	federate []string
}

// NewStepCA inits a PKI in dir whose provisioners issue certs of life
// (backdated by 1 s only, so the lifetime is what it says) and starts it.
func NewStepCA(ns, ip, dir, step, stepCA string, life time.Duration) (*StepCA, error) {
	s := &StepCA{ns: ns, step: step, bin: stepCA, dir: filepath.Join(dir, "step"),
		pwFile: filepath.Join(dir, "password"), jwk: filepath.Join(dir, "admin.jwk"),
		URL: "https://" + ip + ":" + CAPort, logFile: filepath.Join(dir, "step-ca.log")}
	if err := os.WriteFile(s.pwFile, []byte("certagent-fleet-password\n"), 0o600); err != nil {
		return nil, err
	}
	if _, err := s.run("ca", "init", "--name", "certagent fleet", "--dns", ip, "--address", ip+":"+CAPort,
		"--provisioner", "admin", "--password-file", s.pwFile, "--provisioner-password-file", s.pwFile,
		"--deployment-type", "standalone"); err != nil {
		return nil, err
	}
	s.Root = filepath.Join(s.dir, "certs", "root_ca.crt")
	s.caJSON = filepath.Join(s.dir, "config", "ca.json")
	claims := map[string]any{"minTLSCertDuration": "30s", "defaultTLSCertDuration": life.String(),
		"maxTLSCertDuration": "24h"}
	var enc string
	err := s.editConfig(func(cfg map[string]any) {
		auth := cfg["authority"].(map[string]any)
		auth["backdate"] = "1s"
		provs := auth["provisioners"].([]any)
		jwk := provs[0].(map[string]any)
		jwk["claims"] = claims
		enc, _ = jwk["encryptedKey"].(string)
		auth["provisioners"] = append(provs, map[string]any{"type": "ACME", "name": "acme", "claims": claims})
	})
	if err != nil {
		return nil, err
	}
	// Decrypting the provisioner key costs ~0.3 s of PBKDF2 per token:
	// done once here, 200 tokens then take seconds, not a minute.
	key, err := s.runIn(strings.NewReader(enc), "crypto", "jwe", "decrypt", "--password-file", s.pwFile)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(s.jwk, []byte(key), 0o600); err != nil {
		return nil, err
	}
	return s, s.Start()
}

// run runs the step CLI in the CA namespace and returns its stdout.
func (s *StepCA) run(args ...string) (string, error) { return s.runIn(nil, args...) }

func (s *StepCA) runIn(stdin *strings.Reader, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", s.ns, s.step}, args...)...)
	cmd.Env = append(os.Environ(), "STEPPATH="+s.dir, "HOME="+filepath.Dir(s.dir))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = stdin
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("step %s: %w\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

func (s *StepCA) editConfig(edit func(map[string]any)) error {
	b, err := os.ReadFile(s.caJSON)
	if err != nil {
		return err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	edit(cfg)
	if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(s.caJSON, b, 0o600)
}

// Start runs step-ca in the CA namespace, its log appended to
// step-ca.log, and waits until `step ca health` says ok.
func (s *StepCA) Start() error {
	lf, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	cmd := Exec(s.ns, s.bin, "--password-file", s.pwFile, s.caJSON)
	cmd.Env = append(os.Environ(), "STEPPATH="+s.dir, "HOME="+filepath.Dir(s.dir))
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start step-ca: %w", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	done := s.done
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := s.run("ca", "health", "--ca-url", s.URL, "--root", s.Root)
		if err == nil && strings.TrimSpace(out) == "ok" {
			s.Started = time.Now()
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("step-ca exited at start-up; see %s", s.logFile)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("step-ca not healthy after 60 s (%v); see %s", err, s.logFile)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Kill stops step-ca with SIGKILL, as a crash would (a no-op when it is
// not running).
func (s *StepCA) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Pid is step-ca's process id, 0 when it is not running.
func (s *StepCA) Pid() int {
	if s.cmd == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Token mints a one-time token for sub with sans, as `step ca token` on
// the CA host does.
func (s *StepCA) Token(sub string, sans ...string) (string, error) {
	args := []string{"ca", "token", sub, "--ca-url", s.URL, "--root", s.Root, "--key", s.jwk, "--provisioner", "admin"}
	for _, n := range sans {
		args = append(args, "--san", n)
	}
	out, err := s.run(args...)
	return strings.TrimSpace(out), err
}

// Fingerprint is what `step certificate fingerprint root_ca.crt` prints.
func (s *StepCA) Fingerprint() (string, error) {
	out, err := s.run("certificate", "fingerprint", s.Root)
	return strings.TrimSpace(out), err
}

// AddFederatedRoot makes a new self-signed root (the next root of a
// rotation) and lists it in ca.json's federatedRoots; it takes effect at
// the next Start. It returns the new root's PEM file.
func (s *StepCA) AddFederatedRoot(name string) (string, error) {
	crt := filepath.Join(filepath.Dir(s.dir), name+".crt")
	key := filepath.Join(filepath.Dir(s.dir), name+".key")
	if _, err := s.run("certificate", "create", "certagent fleet "+name, crt, key,
		"--profile", "root-ca", "--no-password", "--insecure", "--not-after", "87600h"); err != nil {
		return "", err
	}
	s.federate = append(s.federate, crt)
	fed := append([]string(nil), s.federate...)
	return crt, s.editConfig(func(cfg map[string]any) { cfg["federatedRoots"] = fed })
}

// Request is one request step-ca logged.
type Request struct {
	Time   time.Time // to the second
	Path   string    // as step-ca logs it: /sign from the step CLI, /1.0/rekey from certagent
	Status int
	Remote string // the client's address
}

var (
	reTime   = regexp.MustCompile(`^time="([^"]+)"`)
	rePath   = regexp.MustCompile(` path=(\S+)`)
	reStatus = regexp.MustCompile(` status=(\d+)`)
	reRemote = regexp.MustCompile(` remote-address=(\S+)`)
)

// Requests parses step-ca's log: every request line, in order.
func (s *StepCA) Requests() ([]Request, error) {
	f, err := os.Open(s.logFile)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Request
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		l := sc.Text()
		tm, p, st := reTime.FindStringSubmatch(l), rePath.FindStringSubmatch(l), reStatus.FindStringSubmatch(l)
		if tm == nil || p == nil || st == nil {
			continue
		}
		t, err := time.Parse(time.RFC3339, tm[1])
		if err != nil {
			continue
		}
		r := Request{Time: t, Path: p[1]}
		fmt.Sscan(st[1], &r.Status)
		if m := reRemote.FindStringSubmatch(l); m != nil {
			r.Remote = m[1]
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// LogFile is step-ca's log, for a failing test to show.
func (s *StepCA) LogFile() string { return s.logFile }

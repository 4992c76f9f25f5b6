package fleetrig

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// CertName is the one cert every host's shared config manages.
const CertName = "node"

// Host is one machine: a namespace, and a directory that the daemon sees
// at the rig's shared mount point, so every host can run the very same
// config file text.
type Host struct {
	I   int
	NS  string
	IP  string
	Dir string // the host's files as the test sees them
	mnt string // where the daemon sees Dir
	log string
	cmd *exec.Cmd
	pid int
	// done is closed when the daemon exits.
	done chan struct{}
}

// Paths inside a host directory.
const (
	configName = "certagent.toml"
	tokenRel   = "state/tokens/" + CertName + ".token"
)

// TokenFile is where the host's one-time token goes.
func (h *Host) TokenFile() string { return filepath.Join(h.Dir, tokenRel) }

// CertFile, KeyFile and CAFile are the host's outputs.
func (h *Host) CertFile() string { return filepath.Join(h.Dir, "tls", CertName+".crt") }

// KeyFile is the host's private key.
func (h *Host) KeyFile() string { return filepath.Join(h.Dir, "tls", CertName+".key") }

// CAFile is the host's ca_file: step-ca's roots and federated roots.
func (h *Host) CAFile() string { return filepath.Join(h.Dir, "tls", "ca.crt") }

// StateDir is the host's state directory.
func (h *Host) StateDir() string { return filepath.Join(h.Dir, "state") }

// StepConfig is a host config for the step issuer, written with the
// daemon's view of paths (mnt). fingerprint may be empty (an OpenFL-form
// token then brings the root).
func StepConfig(mnt, caURL, fingerprint string) string {
	fp := ""
	if fingerprint != "" {
		fp = fmt.Sprintf("root_fingerprint = %q\n", fingerprint)
	}
	return fmt.Sprintf(`[agent]
state_dir = "%[1]s/state"
log_format = "json"

[issuers.cluster]
type = "step"
ca_url = %[2]q
%[3]stoken_file = "%[1]s/%[4]s"

[certs.%[5]s]
issuer = "cluster"
dns_names = ["%[5]s.fleet.internal"]
usage = ["server", "client"]
cert_file = "%[1]s/tls/%[5]s.crt"
key_file = "%[1]s/tls/%[5]s.key"
ca_file = "%[1]s/tls/ca.crt"
`, mnt, caURL, fp, tokenRel, CertName)
}

// ACMEConfig is a host config for step-ca's ACME provisioner: an IP-only
// cert for ip, validated over http-01 on port 80 of the host's namespace.
func ACMEConfig(mnt, directory, ip string) string {
	return fmt.Sprintf(`[agent]
state_dir = "%[1]s/state"
log_format = "json"

[issuers.cluster]
type = "acme"
directory = %[2]q
ca_bundle = "%[1]s/root_ca.crt"
challenge = "http-01"
http_listen = ":80"
ari = false

[certs.%[4]s]
issuer = "cluster"
ip_addresses = [%[3]q]
usage = ["server", "client"]
cert_file = "%[1]s/tls/%[4]s.crt"
key_file = "%[1]s/tls/%[4]s.key"
ca_file = "%[1]s/tls/ca.crt"
`, mnt, directory, ip, CertName)
}

// WriteConfig writes the host's config and creates its token directory.
func (h *Host) WriteConfig(text string) error {
	if err := os.MkdirAll(filepath.Dir(h.TokenFile()), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(h.Dir, configName), []byte(text), 0o600)
}

// PutToken writes a one-time token where the host's issuer reads it.
func (h *Host) PutToken(tok string) error {
	return os.WriteFile(h.TokenFile(), []byte(tok+"\n"), 0o600)
}

// Start runs `certagent run` in the host's namespace, with the host's
// directory bind-mounted at the shared mount point of a private mount
// namespace; its log (JSON) goes to certagent.log.
func (h *Host) Start(certagent string) error {
	lf, err := os.OpenFile(h.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	// ip netns exec gives the command a mount namespace of its own, so
	// the bind mount is seen by this daemon only.
	cmd := Exec(h.NS, "sh", "-c", `mount --bind "$0" "$1" && exec "$2" run --config "$1/`+configName+`"`,
		h.Dir, h.mnt, certagent)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("host %d: start certagent: %w", h.I, err)
	}
	h.cmd, h.pid, h.done = cmd, cmd.Process.Pid, make(chan struct{})
	done := h.done
	go func() { _ = cmd.Wait(); close(done) }()
	return nil
}

// Pid is the daemon's process id (ip and sh exec it in place).
func (h *Host) Pid() int { return h.pid }

// Running reports whether the daemon is still up.
func (h *Host) Running() bool {
	if h.done == nil {
		return false
	}
	select {
	case <-h.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to 10 s, then kills.
func (h *Host) Stop() {
	if h.cmd == nil {
		return
	}
	_ = h.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-h.done:
	case <-time.After(10 * time.Second):
		_ = h.cmd.Process.Kill()
		<-h.done
	}
	h.cmd = nil
}

// Event is one JSON log entry of a daemon.
type Event struct {
	Time    time.Time
	Level   string
	Message string
	Fields  map[string]any
}

// Str is a string field, "" when absent.
func (e Event) Str(k string) string {
	s, _ := e.Fields[k].(string)
	return s
}

// Events parses the daemon's log; lines that are not JSON (the shell's
// own errors) come back as Message with Level "raw".
func (h *Host) Events() ([]Event, error) {
	f, err := os.Open(h.log)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<22)
	for sc.Scan() {
		line := sc.Text()
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			if strings.TrimSpace(line) != "" {
				out = append(out, Event{Level: "raw", Message: line})
			}
			continue
		}
		e := Event{Fields: m}
		e.Level, _ = m["@level"].(string)
		e.Message, _ = m["@message"].(string)
		if ts, ok := m["@timestamp"].(string); ok {
			e.Time, _ = time.Parse(time.RFC3339Nano, ts)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// LogFile is the daemon's log.
func (h *Host) LogFile() string { return h.log }

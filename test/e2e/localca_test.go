package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

const twoCerts = `
[agent]
state_dir = "{{state}}"
log_level = "debug"

[issuers.cluster]
type = "local"
key_type = "ec384"
common_name = "e2e cluster CA"

[certs.det]
issuer = "cluster"
dns_names = ["det.example.com"]
ip_addresses = ["127.0.0.1"]
usage = ["server"]
key_type = "ec256"
validity = "30d"
cert_file = "{{out}}/det/cert.pem"
key_file = "{{out}}/det/key.pem"
fullchain_file = "{{out}}/det/fullchain.pem"
ca_file = "{{out}}/det/ca.pem"
cert_mode = "0644"

[certs.worker]
issuer = "cluster"
common_name = "worker-1"
dns_names = ["worker-1.cluster.local"]
usage = ["client", "server"]
key_type = "rsa2048"
validity = "30d"
cert_file = "{{out}}/worker/cert.pem"
key_file = "{{out}}/worker/key.pem"
ca_file = "{{out}}/worker/ca.pem"
`

// TestRenewWritesVerifiableFiles runs `certagent renew` on a fresh host and
// checks the files with openssl as an operator would.
func TestRenewWritesVerifiableFiles(t *testing.T) {
	openssl := testbin.NeedTool(t, "openssl")
	e := newEnv(t)
	e.WriteConfig(t, twoCerts)
	if r := certagent(t, "check", "--config", e.Config); r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := certagent(t, "renew", "--config", e.Config)
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{e.Path("det/key.pem"), 0o600}, {e.Path("det/cert.pem"), 0o644}, {e.Path("det/ca.pem"), 0o644},
		{e.Path("worker/key.pem"), 0o600}, {e.Path("worker/cert.pem"), 0o600},
		{filepath.Join(e.State, "ca/cluster/ca.key"), 0o600},
	} {
		if got := mode(t, f.path); got != f.mode {
			t.Errorf("%s: mode %04o, want %04o", f.path, got, f.mode)
		}
	}
	if got := mode(t, e.State); got != 0o700 {
		t.Errorf("state dir mode %04o, want 0700", got)
	}
	testbin.Run(t, openssl, "verify", "-CAfile", e.Path("det/ca.pem"), e.Path("det/cert.pem"))
	testbin.Run(t, openssl, "verify", "-CAfile", e.Path("worker/ca.pem"), "-purpose", "sslclient", e.Path("worker/cert.pem"))
	text := testbin.Run(t, openssl, "x509", "-noout", "-text", "-in", e.Path("det/cert.pem"))
	for _, want := range []string{"DNS:det.example.com", "IP Address:127.0.0.1", "TLS Web Server Authentication",
		"X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier", "ASN1 OID: prime256v1"} {
		if !strings.Contains(text, want) {
			t.Errorf("det cert lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "TLS Web Client Authentication") {
		t.Error("server-only cert carries clientAuth")
	}
	wtext := testbin.Run(t, openssl, "x509", "-noout", "-text", "-in", e.Path("worker/cert.pem"))
	if !strings.Contains(wtext, "TLS Web Client Authentication") || !strings.Contains(wtext, "Public-Key: (2048 bit)") {
		t.Errorf("worker cert lacks clientAuth or RSA 2048:\n%s", wtext)
	}
	testbin.Run(t, openssl, "pkey", "-in", e.Path("det/key.pem"), "-noout")
	if entries, _ := os.ReadDir(filepath.Join(e.State, "staging")); len(entries) != 0 {
		t.Errorf("staging not empty after renew: %v", entries)
	}
	handshake(t, openssl, e.Path("det/cert.pem"), e.Path("det/key.pem"), e.Path("det/ca.pem"), "det.example.com")

	// A second renew finds nothing due and touches nothing.
	before, _ := os.Stat(e.Path("det/key.pem"))
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("second renew: exit %d\n%s", r.code, r.stderr)
	}
	after, _ := os.Stat(e.Path("det/key.pem"))
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("a renew with nothing due rewrote the key")
	}

	// --force renews; the new cert has a new serial and still matches.
	oldSerial := testbin.Run(t, openssl, "x509", "-noout", "-serial", "-in", e.Path("det/cert.pem"))
	if r := certagent(t, "renew", "--force", "--config", e.Config, "det"); r.code != 0 {
		t.Fatalf("renew --force det: exit %d\n%s", r.code, r.stderr)
	}
	if newSerial := testbin.Run(t, openssl, "x509", "-noout", "-serial", "-in", e.Path("det/cert.pem")); newSerial == oldSerial {
		t.Error("renew --force did not issue a new cert")
	}
	handshake(t, openssl, e.Path("det/cert.pem"), e.Path("det/key.pem"), e.Path("det/ca.pem"), "det.example.com")

	st := certagent(t, "status", "--json", "--config", e.Config)
	var rows []struct{ Name, State string }
	if err := json.Unmarshal([]byte(st.stdout), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("status --json: %v\n%s", err, st.stdout)
	}
	for _, row := range rows {
		if row.State != "ok" {
			t.Errorf("status: %s is %q, want ok", row.Name, row.State)
		}
	}
}

// handshake serves cert/key with openssl s_server and connects with
// s_client, verifying the chain against ca and the host name.
func handshake(t *testing.T, openssl, cert, key, ca, host string) {
	t.Helper()
	port := freePort(t)
	srv := exec.Command(openssl, "s_server", "-accept", "127.0.0.1:"+port, "-cert", cert, "-key", key, "-www")
	srv.Stdout, srv.Stderr = nil, nil
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	waitPort(t, "127.0.0.1:"+port)
	cli := exec.Command(openssl, "s_client", "-connect", "127.0.0.1:"+port, "-CAfile", ca,
		"-verify_return_error", "-verify_hostname", host, "-servername", host)
	cli.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
	out, err := cli.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verify return code: 0 (ok)") {
		t.Fatalf("s_client did not verify the served cert: %v\n%s", err, out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestDaemonRenewsOnScheduleAndStopsCleanly runs the daemon with 1-minute
// certs: it issues at start, renews about half-way through the lifetime,
// and stops on SIGTERM with exit 0 and no temp files.
func TestDaemonRenewsOnScheduleAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a scheduled renewal (~30 s)")
	}
	e := newEnv(t)
	e.WriteConfig(t, strings.ReplaceAll(strings.ReplaceAll(twoCerts, `validity = "30d"`, `validity = "1m"`), `log_level = "debug"`, `log_level = "info"`))
	d := startDaemon(t, e)
	d.Await(2, 30*time.Second, "event=issued")
	first, _ := os.ReadFile(e.Path("det/cert.pem"))
	d.Await(2, 60*time.Second, "event=renewed")
	second, _ := os.ReadFile(e.Path("det/cert.pem"))
	if string(first) == string(second) {
		t.Error("a renewal was logged but det/cert.pem did not change")
	}
	time.Sleep(3 * time.Second)
	took, err := d.Stop()
	if err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
	if took > 10*time.Second {
		t.Errorf("daemon took %s to stop", took)
	}
	// Two certs, one renewal each in the window: anything more is a loop.
	if n := d.Count("event=renewed"); n > 2 {
		t.Errorf("%d renewals of two 1-minute certs in about 30 s: the scheduler loops", n)
	}
	if d.Count("certagent stopped") != 1 {
		t.Error("no clean-stop log line")
	}
	_ = filepath.Walk(e.Dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.Contains(filepath.Base(p), ".tmp") {
			t.Errorf("temp file left behind: %s", p)
		}
		return nil
	})
}

// TestRenewWhileDaemonRuns: an in-process `renew --force --local` and the
// daemon share the state dir lock; neither sees or leaves a half-written
// pair. (Without --local the renew would be the daemon's own, through
// the control socket in its state dir.)
func TestRenewWhileDaemonRuns(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, strings.Replace(crashConfig(5), `log_level = "warn"`, `log_level = "info"`, 1))
	d := startDaemon(t, e)
	d.Await(5, 30*time.Second, "event=issued")
	for i := 0; i < 5; i++ {
		if r := certagent(t, "renew", "--force", "--local", "--config", e.Config); r.code != 0 {
			t.Fatalf("renew --force #%d while the daemon runs: exit %d\n%s", i, r.code, r.stderr)
		}
		for c := 0; c < 5; c++ {
			if err := pairMatches(e.Path(fmt.Sprintf("c%d/cert.pem", c)), e.Path(fmt.Sprintf("c%d/key.pem", c))); err != nil {
				t.Fatalf("after renew #%d: c%d: %v", i, c, err)
			}
		}
	}
	time.Sleep(time.Second)
	if n := d.Count("event=renewed") + d.Count("modified outside certagent"); n != 0 {
		t.Errorf("the daemon re-issued %d times after another process's renewals; it should see valid pairs", n)
	}
	if _, err := d.Stop(); err != nil {
		t.Fatalf("daemon: %v", err)
	}
}

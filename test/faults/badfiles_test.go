package faults

import (
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badFileCerts names the certs of TestBadFilesOnDisk and what is done to
// each one's files while the daemon runs.
var badFileCerts = []struct {
	name   string
	break_ func(t *testing.T, e *env, name string)
}{
	{"garbage-pem", func(t *testing.T, e *env, n string) {
		writeFile(t, e.path(n+"/cert.pem"), []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==!!\n-----END CERTIFICATE-----\n"))
	}},
	{"der-not-pem", func(t *testing.T, e *env, n string) {
		b, _ := os.ReadFile(e.path(n + "/cert.pem"))
		blk, _ := pem.Decode(b)
		writeFile(t, e.path(n+"/cert.pem"), blk.Bytes)
	}},
	{"chain-wrong-order", func(t *testing.T, e *env, n string) {
		leaf, _ := os.ReadFile(e.path(n + "/cert.pem"))
		ca, _ := os.ReadFile(e.path(n + "/ca.pem"))
		writeFile(t, e.path(n+"/cert.pem"), append(ca, leaf...))
	}},
	{"key-unsupported", func(t *testing.T, e *env, n string) {
		writeFile(t, e.path(n+"/key.pem"), []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n"))
	}},
	{"huge-100mb", func(t *testing.T, e *env, n string) {
		f, err := os.OpenFile(e.path(n+"/cert.pem"), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		// Real bytes, not a hole: 100 MB of PEM-looking text.
		line := []byte(strings.Repeat("A", 63) + "\n")
		buf := []byte("-----BEGIN CERTIFICATE-----\n")
		for len(buf) < 1<<20 {
			buf = append(buf, line...)
		}
		for i := 0; i < 100; i++ {
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
	}},
	{"fifo-at-cert", func(t *testing.T, e *env, n string) {
		p := e.path(n + "/cert.pem")
		tmp := p + ".fifo"
		if err := syscall.Mkfifo(tmp, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}},
}

func writeFile(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestBadFilesOnDisk breaks the files of six managed certs in six ways
// while the daemon runs: it stays up, warns once per cert naming the
// problem, and re-issues every one of them.
func TestBadFilesOnDisk(t *testing.T) {
	e := newEnv(t)
	var b strings.Builder
	b.WriteString("[agent]\nstate_dir = \"{{state}}\"\n\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n")
	for _, c := range badFileCerts {
		fmt.Fprintf(&b, "\n[certs.%s]\nissuer = \"ca\"\ndns_names = [\"%s.example.com\"]\nkey_type = \"ec256\"\n", c.name, c.name)
		fmt.Fprintf(&b, "cert_file = \"{{out}}/%s/cert.pem\"\nkey_file = \"{{out}}/%s/key.pem\"\nca_file = \"{{out}}/%s/ca.pem\"\n", c.name, c.name, c.name)
	}
	e.write(t, b.String())
	if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
		t.Fatalf("initial renew: %s", r)
	}
	d := startDaemon(t, e)
	d.await(1, 10*time.Second, "certagent started")
	time.Sleep(500 * time.Millisecond) // first pass and watches in place
	for _, c := range badFileCerts {
		c.break_(t, e, c.name)
	}
	recovered := 0
	reissued := func(name string) int {
		// "issued" when the old cert could not even be parsed.
		return d.count("event=renewed", "cert="+name) + d.count("event=issued", "cert="+name)
	}
	for _, c := range badFileCerts {
		eventually(t, 30*time.Second, c.name+" re-issued", func() bool { return reissued(c.name) >= 1 })
	}
	time.Sleep(2 * time.Second) // let any second reaction show
	for _, c := range badFileCerts {
		warns := d.lines("modified outside certagent", "cert="+c.name)
		if len(warns) != 1 {
			t.Errorf("%s: %d 'modified outside certagent' warnings, want 1:\n%s", c.name, len(warns), strings.Join(warns, "\n"))
		}
		if n := reissued(c.name); n != 1 {
			t.Errorf("%s: re-issued %d times, want 1", c.name, n)
		}
		if err := checkSet(certSpec{name: c.name, cert: e.path(c.name + "/cert.pem"), key: e.path(c.name + "/key.pem"),
			caFile: e.path(c.name + "/ca.pem"), keyMode: 0o600, certMode: 0o600, uid: -1, gid: -1}); err != nil {
			t.Errorf("%s after re-issue: %v", c.name, err)
		} else {
			recovered++
		}
	}
	if !d.alive() {
		t.Fatal("daemon died")
	}
	noPanic(t, "daemon", d.text())
	figure(t, "badfiles: %d/%d broken certs (garbage PEM, DER, chain in wrong order, OpenSSH key, 100 MB file, FIFO) warned once and re-issued; daemon up",
		recovered, len(badFileCerts))
}

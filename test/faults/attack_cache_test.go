package faults

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// mappedWriter is the attacker of attackHeldMappedWrite, as the service
// user: it maps cert.pem shared and writable and writes through the
// mapping once (the write fault sets the ctime), says "ready", and on a
// line from stdin changes one base64 letter of the signature through the
// same mapping (no new fault, so no new ctime) and says "done".
const mappedWriter = `
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
m = mmap.mmap(fd, 0)
i = m.find(b"-----END") - 10
m[i] = m[i] ^ 1
m[i] = m[i] ^ 1
print("ready", flush=True)
sys.stdin.readline()
m[i] = ord("B") if m[i] == ord("A") else ord("A")
print("done", flush=True)
sys.stdin.readline()
`

// held: the service user who owns cert.pem keeps a shared writable
// mapping of it across a renew (which inspects the settled pair and,
// before the fix, cached the verdict), then breaks the signature through
// the mapping: ext4 and tmpfs keep the ctime, so the Stamp is unchanged.
// The next renew must still find the damage and re-issue.
func attackHeldMappedWrite(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	a.issueOnce(t)
	cert := a.path("cert.pem")
	cmd := exec.Command("setpriv", "--reuid="+strconv.Itoa(svc.uid), "--regid="+strconv.Itoa(svc.gid),
		"--clear-groups", "--", "/usr/bin/python3", "-c", mappedWriter, cert)
	cmd.Dir = "/"
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	lines := bufio.NewScanner(stdout)
	say := func(want string) {
		t.Helper()
		if !lines.Scan() || lines.Text() != want {
			t.Fatalf("attacker: want %q, got %q (%v)", want, lines.Text(), lines.Err())
		}
	}
	say("ready")
	// Let the ctime settle past the cache's 2 s rule, so that the next
	// renew could cache the pair's verdict.
	for {
		var st syscall.Stat_t
		if err := syscall.Stat(cert, &st); err != nil {
			t.Fatal(err)
		}
		if time.Since(time.Unix(st.Ctim.Unix())) > 3*time.Second {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	wantExit(t, "renew over the mapped pair", certagent(t, "renew", "--config", a.config), 0)
	if _, err := stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	say("done")
	broken, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	wantExit(t, "renew after the mapped write", certagent(t, "renew", "--config", a.config), 0)
	now, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(now, broken) {
		t.Error("the cert broken through a mapping was kept: renew trusted a cached verdict")
	}
	if err := checkSet(a.webSet()); err != nil {
		t.Errorf("after the mapped write: %v", err)
	}
}

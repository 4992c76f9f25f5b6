package control

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// asNobody runs python3 code as uid 65534 and returns its output.
func asNobody(t *testing.T, code string, args ...string) (string, error) {
	t.Helper()
	hostiletest.NeedRoot(t)
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs /usr/bin/python3 to act as another uid")
	}
	cmd := exec.Command(py, append([]string{"-c", code}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: hostiletest.ServiceUID, Gid: hostiletest.ServiceUID}}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestOtherUsersCannotConnect: with every directory above it open for
// traversal, the socket's own mode (0600, root's) keeps another local
// user from connecting at all, so such a user can neither flood the
// daemon nor make it read a line.
func TestOtherUsersCannotConnect(t *testing.T) {
	h := &fakeHandler{}
	path, journal := serve(t, h)
	for p := filepath.Dir(path); p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v, %v; want 0600", fi.Mode(), err)
	}
	out, err := asNobody(t, `import socket,sys
s=socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES"); sys.exit(0)
print("connected")`, path)
	if err != nil || strings.TrimSpace(out) != "EACCES" {
		t.Errorf("connect as uid 65534: %q, %v; want EACCES", out, err)
	}
	if len(h.requests()) != 0 || strings.Contains(journal.String(), "control") {
		t.Errorf("the daemon saw a connection from uid 65534: %d requests, journal:\n%s", len(h.requests()), journal)
	}
}

// TestListenRefusesUntrustedDirectory: a control_socket in a directory
// another user can write would let that user swap the socket for a
// symlink between bind and chmod (root would chmod the link's target),
// or unlink it. Listen refuses such a path, whether the directory is the
// user's own or reached through their symlink.
func TestListenRefusesUntrustedDirectory(t *testing.T) {
	hostiletest.NeedRoot(t)
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	user := hostiletest.Dir(t, base, "user")
	rootDir := filepath.Join(base, "root")
	if err := os.Mkdir(rootDir, 0o700); err != nil {
		t.Fatal(err)
	}
	link := hostiletest.Link(t, rootDir, filepath.Join(user, "run"))
	for _, p := range []string{filepath.Join(user, "control.sock"), filepath.Join(link, "control.sock")} {
		ln, err := Listen(p)
		if err == nil {
			ln.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("Listen(%s): want a refusal naming uid 65534, got %v", p, err)
		}
	}
	if ents, _ := os.ReadDir(rootDir); len(ents) != 0 {
		t.Errorf("a socket was bound through the service user's link: %v", ents)
	}
}

// TestFloodOfIdleAndHugeConnections: idle connections and request lines
// over MaxRequest neither stop the daemon nor hold up other requests: a
// line too long is answered with exit 2 once MaxRequest bytes are read,
// and status and renew still run.
func TestFloodOfIdleAndHugeConnections(t *testing.T) {
	h := &fakeHandler{}
	path, _ := serve(t, h)
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for range 200 {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	huge := bytes.Repeat([]byte("x"), 2*MaxRequest)
	var wg sync.WaitGroup
	verdicts := make([]string, 8)
	for i := range verdicts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("unix", path)
			if err != nil {
				verdicts[i] = err.Error()
				return
			}
			defer c.Close()
			go func() { _, _ = c.Write(huge) }() // the daemon stops reading; this write never completes
			b, _ := io.ReadAll(io.LimitReader(c, 4096))
			verdicts[i] = string(b)
		}()
	}
	wg.Wait()
	for i, v := range verdicts {
		if !strings.Contains(v, `"exit":2`) || !strings.Contains(v, "token too long") {
			t.Errorf("huge request %d: want a usage verdict naming the length, got %q", i, v)
		}
	}
	for _, op := range []string{OpStatus, OpRenew} {
		if rep, err := Do(context.Background(), path, Request{V: Version, Op: op}, nil); err != nil || rep.Exit != ExitOK {
			t.Errorf("%s during the flood: %+v, %v", op, rep, err)
		}
	}
	if n := len(h.requests()); n != 2 {
		t.Errorf("handler ran %d requests, want the 2 well-formed ones", n)
	}
}

// floodHandler logs far more than a client's buffer and the socket hold.
type floodHandler struct {
	log  hclog.Logger
	done chan struct{}
}

func (h *floodHandler) Handle(_ context.Context, req Request) (any, error) {
	if req.Op == OpStatus {
		return []string{"ok"}, nil
	}
	for i := range 20000 {
		h.log.Info("renewal step", "i", i, "padding", strings.Repeat("p", 200))
	}
	close(h.done)
	return nil, nil
}

// TestClientThatNeverReadsBlocksNothing: a renew whose client never
// reads its log stream still runs to its end (the daemon's logging never
// waits for a client), and status is answered meanwhile.
func TestClientThatNeverReadsBlocksNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Level: hclog.Info, Output: io.Discard})
	h := &floodHandler{log: logger, done: make(chan struct{})}
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- NewServer(h, logger, "/s").Serve(ctx, ln) }()
	slow, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.Write([]byte(`{"v":1,"op":"renew"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	<-h.done // hangs (and the test times out) if a log line waits for the client
	rep, err := Do(context.Background(), path, Request{V: Version, Op: OpStatus}, nil)
	if err != nil || rep.Exit != ExitOK {
		t.Errorf("status while a client does not read: %+v, %v", rep, err)
	}
	slow.Close()
	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// fakeHandler logs through the daemon logger as the agent would and
// answers what the test set.
type fakeHandler struct {
	log    hclog.Logger
	mu     sync.Mutex
	got    []Request
	result any
	err    error
}

func (h *fakeHandler) Handle(_ context.Context, req Request) (any, error) {
	h.mu.Lock()
	h.got = append(h.got, req)
	h.mu.Unlock()
	h.log.Named("acme").Info("renewal due", "cert", "web", "reason", "forced")
	h.log.Debug("below the daemon's level")
	h.log.Error("renewal failed", "cert", "web", "error", errors.New("acme: rateLimited"))
	return h.result, h.err
}

func (h *fakeHandler) requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.got...)
}

// serve starts a Server on a socket in a temp dir; the daemon's journal
// (text here) is returned too.
func serve(t *testing.T, h *fakeHandler) (string, *strings.Builder) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "control.sock")
	var journal strings.Builder
	var jmu sync.Mutex
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Level: hclog.Info, Output: lockedWriter{&jmu, &journal}})
	h.log = logger
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(h, logger, "/var/lib/certagent").Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path, &journal
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestRequestStreamsLogsResultAndVerdict(t *testing.T) {
	h := &fakeHandler{result: []string{"row"}, err: errors.New("1 cert(s) failed: [web: acme: rateLimited]")}
	path, journal := serve(t, h)
	var logs []Message
	rep, err := Do(context.Background(), path, Request{Op: OpRenew, Names: []string{"web"}, Force: true},
		func(m Message) { logs = append(logs, m) })
	if err != nil {
		t.Fatal(err)
	}
	if rep.Exit != ExitFailure || rep.Error != "1 cert(s) failed: [web: acme: rateLimited]" {
		t.Errorf("verdict exit %d %q", rep.Exit, rep.Error)
	}
	if string(rep.Result) != `["row"]` {
		t.Errorf("result %s", rep.Result)
	}
	var lines []string
	for _, m := range logs {
		var kv []string
		for _, f := range m.Fields {
			kv = append(kv, f.K+"="+f.V)
		}
		lines = append(lines, fmt.Sprintf("%s %s %s %s", m.Level, m.Logger, m.Msg, strings.Join(kv, " ")))
	}
	want := []string{
		"info  control request event=control_request op=renew names=web force=true peer_uid=" + fmt.Sprint(os.Geteuid()) + " peer_pid=" + fmt.Sprint(os.Getpid()),
		"info acme renewal due cert=web reason=forced",
		"error  renewal failed cert=web error=acme: rateLimited",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("streamed log records:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if got := h.requests(); len(got) != 1 || got[0].Op != OpRenew || !got[0].Force || len(got[0].Names) != 1 {
		t.Errorf("handler got %+v", got)
	}
	// The daemon's own log has the lines as well: the client gets a copy.
	if !strings.Contains(journal.String(), "renewal failed") {
		t.Errorf("daemon log lacks the request's lines:\n%s", journal.String())
	}
}

func TestUsageErrorsExitTwo(t *testing.T) {
	h := &fakeHandler{err: Usage(errors.New(`no cert named "nope" in the running configuration`))}
	path, _ := serve(t, h)
	rep, err := Do(context.Background(), path, Request{Op: OpRenew, Names: []string{"nope"}}, nil)
	if err != nil || rep.Exit != ExitUsage || rep.Error != `no cert named "nope" in the running configuration` {
		t.Errorf("got %+v, %v", rep, err)
	}
	rep, err = Do(context.Background(), path, Request{Op: "rotate"}, nil)
	if err != nil || rep.Exit != ExitUsage || !strings.Contains(rep.Error, `unknown op "rotate"`) {
		t.Errorf("unknown op: %+v, %v", rep, err)
	}
	// A client of a newer protocol gets a clear no, not a guess.
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintln(c, `{"v":2,"op":"renew"}`)
	rep, err = readReply(context.Background(), c, nil)
	if err != nil || rep.Exit != ExitUsage || !strings.Contains(rep.Error, "protocol version 2 is not supported") {
		t.Errorf("v2: %+v, %v", rep, err)
	}
	if got := h.requests(); len(got) != 1 {
		t.Errorf("handler ran %d requests, want only the valid one", len(got))
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	_, err := Do(context.Background(), filepath.Join(dir, "control.sock"), Request{Op: OpStatus}, nil)
	if !errors.Is(err, ErrNoDaemon) {
		t.Errorf("no socket file: %v, want ErrNoDaemon", err)
	}
	// A daemon that died left its socket file behind.
	path := filepath.Join(dir, "stale.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Do(context.Background(), path, Request{Op: OpStatus}, nil); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("stale socket: %v, want ErrNoDaemon", err)
	}
	// A new daemon replaces it.
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer ln2.Close()
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", fi.Mode(), err)
	}
}

func TestListenRefusesALiveDaemonAndOtherFiles(t *testing.T) {
	path, _ := serve(t, &fakeHandler{})
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another certagent daemon answers") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	if _, err := Do(context.Background(), path, Request{Op: OpStatus}, nil); err != nil {
		t.Errorf("the first daemon stopped answering: %v", err)
	}
	file := filepath.Join(t.TempDir(), "control.sock")
	os.WriteFile(file, []byte("precious"), 0o600)
	if _, err := Listen(file); err == nil || !strings.Contains(err.Error(), "is not a socket") {
		t.Errorf("Listen over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "precious" {
		t.Errorf("Listen changed a regular file at the socket path")
	}
}

// TestPeerCredRefusesOtherUsers: even when the socket's mode would let
// another user connect, SO_PEERCRED keeps them out.
func TestPeerCredRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to connect as another uid")
	}
	h := &fakeHandler{}
	path, journal := serve(t, h)
	dir := filepath.Dir(path)
	for _, p := range []string{filepath.Dir(filepath.Dir(dir)), filepath.Dir(dir), dir} {
		os.Chmod(p, 0o755)
	}
	os.Chmod(path, 0o666)
	// Connect from a process running as nobody (SO_PEERCRED records the
	// connecting process's credentials).
	py := "/usr/bin/python3" // a user's shim (pyenv) is not nobody's
	if _, err := os.Stat(py); err != nil {
		t.Skip("needs /usr/bin/python3 to connect as another uid")
	}
	cmd := exec.Command(py, "-c", `import socket,sys
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(b'{"v":1,"op":"renew","force":true}\n')
sys.stdout.write(s.makefile().read())`, path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("connect as uid 65534: %v\n%s", err, out)
	}
	rep, err := readReply(context.Background(), strings.NewReader(string(out)), nil)
	if err != nil || rep.Exit != ExitFailure || !strings.Contains(rep.Error, "uid 65534 may not use the control socket") {
		t.Errorf("connection as uid 65534: %+v, %v", rep, err)
	}
	if len(h.requests()) != 0 {
		t.Errorf("the handler ran a request from uid 65534")
	}
	if !strings.Contains(journal.String(), "control connection refused") {
		t.Errorf("refusal not logged:\n%s", journal.String())
	}
}

// TestOtherStateDirIsAnotherDaemon: a daemon serving another state_dir
// does not run the request; the client learns to work in-process.
func TestOtherStateDirIsAnotherDaemon(t *testing.T) {
	h := &fakeHandler{}
	path, _ := serve(t, h)
	_, err := Do(context.Background(), path, Request{Op: OpRenew, Force: true, StateDir: "/srv/other/state"}, nil)
	if !errors.Is(err, ErrOtherDaemon) || !strings.Contains(err.Error(), "/srv/other/state") {
		t.Errorf("request for another state_dir: %v, want ErrOtherDaemon", err)
	}
	if _, err := Do(context.Background(), path, Request{Op: OpStatus, StateDir: "/var/lib/certagent"}, nil); err != nil {
		t.Errorf("request for its own state_dir: %v", err)
	}
	if got := h.requests(); len(got) != 1 || got[0].Op != OpStatus {
		t.Errorf("handler ran %+v, want only the status for its own state_dir", got)
	}
}

func TestStatusResultIsJSON(t *testing.T) {
	h := &fakeHandler{result: map[string]int{"certs": 2}}
	path, _ := serve(t, h)
	rep, err := Do(context.Background(), path, Request{Op: OpStatus}, nil)
	if err != nil || rep.Exit != 0 {
		t.Fatalf("%+v, %v", rep, err)
	}
	var got map[string]int
	if err := json.Unmarshal(rep.Result, &got); err != nil || got["certs"] != 2 {
		t.Errorf("result %s: %v", rep.Result, err)
	}
}

// blockingHandler blocks each request until released, to test what
// happens when the client goes away mid-request.
type blockingHandler struct {
	entered, release, finished chan struct{}
}

func (h *blockingHandler) Handle(ctx context.Context, req Request) (any, error) {
	h.entered <- struct{}{}
	<-h.release
	h.finished <- struct{}{}
	return nil, nil
}

// TestClientGoneRequestCompletes: a client interrupted after the daemon
// took its request gets ctx's error; the daemon finishes the request and
// keeps serving.
func TestClientGoneRequestCompletes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	h := &blockingHandler{entered: make(chan struct{}), release: make(chan struct{}), finished: make(chan struct{}, 2)}
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := hclog.NewInterceptLogger(&hclog.LoggerOptions{Output: io.Discard})
	go func() { done <- NewServer(h, logger, "/s").Serve(srvCtx, ln) }()

	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() {
		_, err := Do(ctx, path, Request{Op: OpRenew}, nil)
		got <- err
	}()
	<-h.entered
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted client: %v, want context.Canceled", err)
	}
	close(h.release)
	<-h.finished
	// The server is still there for the next client.
	h2 := make(chan error, 1)
	go func() {
		_, err := Do(context.Background(), path, Request{Op: OpStatus}, nil)
		h2 <- err
	}()
	<-h.entered // status enters the same handler; let it through
	if err := <-h2; err != nil {
		t.Errorf("next request after an interrupted one: %v", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

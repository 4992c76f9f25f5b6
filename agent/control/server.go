package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/internal/trust"
)

// Handler runs the requests a Server accepts. Contract: Handle is never
// called concurrently except for OpStatus; it returns when ctx is done at
// the latest. It returns the op's result (nil for none; it is marshalled
// to JSON) and the request's error; an error made with Usage gives exit 2.
type Handler interface {
	Handle(ctx context.Context, req Request) (result any, err error)
}

// Usage marks err as the client's mistake (an unknown cert name): the
// verdict's exit code is then 2, as for a usage error in-process.
func Usage(err error) error { return usageError{err} }

type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// Timeouts that keep a stuck or silent client from holding a request.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
)

// Server answers control requests. Construct with NewServer.
type Server struct {
	handler  Handler
	log      hclog.InterceptLogger
	stateDir string
	// turn lets one request other than status run at a time.
	turn chan struct{}
	// euid is the daemon's own uid, read once at construction.
	euid int
}

// NewServer returns a server for h. logger is the daemon's root logger:
// while a request runs, everything logged through it (and its named
// sub-loggers) at its level is also streamed to that request's client.
// stateDir is the daemon's state_dir: a request for another is refused
// (Request.StateDir).
func NewServer(h Handler, logger hclog.InterceptLogger, stateDir string) *Server {
	return &Server{handler: h, log: logger, stateDir: stateDir, turn: make(chan struct{}, 1), euid: os.Geteuid()}
}

// Listen binds the control socket at path, mode 0600, creating its parent
// directory (0700) if missing; that directory must follow the trust rule
// (internal/trust), as no other user may change what root binds there. A socket file no daemon answers on is left
// over from a daemon that died, and is replaced; a live one is an error,
// as is any other kind of file at path.
func Listen(path string) (*net.UnixListener, error) {
	path = filepath.Clean(path) // as Do dials it
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	// Root removes, binds and chmods by name here: in a directory another
	// user could change, that user could swap the socket for a symlink
	// between bind and chmod, and root would chmod the link's target.
	if _, err := trust.CheckDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Between bind and chmod the mode is 0777 minus the umask (0077 under
	// the unit); the SO_PEERCRED check covers that window anyway.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("control socket: %s exists and is not a socket; remove it or set [agent] control_socket", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("control socket: another certagent daemon answers on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("control socket: probe %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("control socket: remove the stale %s: %w", path, err)
	}
	return nil
}

// Serve accepts connections on ln until ctx is done, then closes ln (which
// removes the socket file) and returns after every connection it started
// is finished.
func (s *Server) Serve(ctx context.Context, ln *net.UnixListener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("control socket: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serveConn(ctx, conn)
		}()
	}
}

// serveConn runs one connection: authenticate, read the request, run it
// with the client's log sink registered, answer result and verdict.
func (s *Server) serveConn(ctx context.Context, conn *net.UnixConn) {
	defer conn.Close()
	out := &lineWriter{conn: conn, enc: json.NewEncoder(conn)}
	uid, pid, err := peerCred(conn)
	if err == nil && !allowedUID(uid, s.euid) {
		err = fmt.Errorf("uid %d may not use the control socket (root only)", uid)
	}
	// Read the request even from a peer that is refused: closing a socket
	// with unread data resets the connection, and the peer would lose
	// the verdict that says why.
	req, rerr := readRequest(conn)
	if err != nil {
		s.log.Warn("control connection refused", "event", "control_refused", "peer_uid", uid, "peer_pid", pid, "error", err)
		out.verdict(ExitFailure, "permission denied: "+err.Error())
		return
	}
	if rerr != nil {
		out.verdict(ExitUsage, rerr.Error())
		return
	}
	if req.StateDir != "" && req.StateDir != s.stateDir {
		out.send(Message{Type: TypeVerdict, Exit: ExitUsage, Mismatch: true,
			Error: fmt.Sprintf("this daemon's state_dir is %s, not %s", s.stateDir, req.StateDir)})
		return
	}
	if !s.take(ctx, req.Op) {
		out.verdict(ExitFailure, "the daemon is stopping")
		return
	}
	defer s.release(req.Op)
	args := []any{"event", "control_request", "op", req.Op,
		"names", strings.Join(req.Names, ","), "force", req.Force, "peer_uid", uid, "peer_pid", pid}
	var result any
	var herr error
	if req.Op == OpStatus {
		// Read-only and frequent (scripts poll it): no journal line at
		// info, and no sink, which would copy a concurrent request's lines.
		s.log.Debug("control request", args...)
		result, herr = s.handler.Handle(ctx, req)
	} else {
		sink := newSink(out, s.log.GetLevel())
		s.log.RegisterSink(sink)
		s.log.Info("control request", args...)
		result, herr = s.handler.Handle(ctx, req)
		s.log.DeregisterSink(sink)
		sink.close()
	}
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			out.verdict(ExitFailure, "cannot encode the result: "+err.Error())
			return
		}
		out.send(Message{Type: TypeResult, Result: b})
	}
	var ue usageError
	switch {
	case herr == nil:
		out.verdict(ExitOK, "")
	case errors.As(herr, &ue):
		out.verdict(ExitUsage, herr.Error())
	default:
		out.verdict(ExitFailure, herr.Error())
	}
}

// take waits for this request's turn; status does not wait.
func (s *Server) take(ctx context.Context, op string) bool {
	if op == OpStatus {
		return true
	}
	select {
	case s.turn <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (s *Server) release(op string) {
	if op != OpStatus {
		<-s.turn
	}
}

// readRequest reads and checks the request line.
func readRequest(conn *net.UnixConn) (Request, error) {
	var req Request
	_ = conn.SetReadDeadline(time.Now().Add(readTimeout))
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 0, 4096), MaxRequest)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return req, fmt.Errorf("bad request: %w", err)
		}
		return req, errors.New("bad request: no request line")
	}
	_ = conn.SetReadDeadline(time.Time{})
	if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
		return req, fmt.Errorf("bad request: %w", err)
	}
	if req.V != Version {
		return req, fmt.Errorf("protocol version %d is not supported; this daemon speaks version %d (is certagent upgraded but the daemon not restarted?)", req.V, Version)
	}
	switch req.Op {
	case OpRenew, OpStatus, OpReload, OpRevoke:
		return req, nil
	}
	return req, fmt.Errorf("unknown op %q; this daemon knows %s, %s, %s and %s (is certagent upgraded but the daemon not restarted?)",
		req.Op, OpRenew, OpRevoke, OpStatus, OpReload)
}

// lineWriter writes messages, one JSON line each, from any goroutine. After
// the first failed write (the client went away) it drops everything.
type lineWriter struct {
	mu     sync.Mutex
	conn   net.Conn
	enc    *json.Encoder
	failed bool
}

func (w *lineWriter) send(m Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failed {
		return
	}
	_ = w.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if err := w.enc.Encode(m); err != nil {
		w.failed = true
	}
}

func (w *lineWriter) verdict(exit int, msg string) {
	w.send(Message{Type: TypeVerdict, Exit: exit, Error: msg})
}

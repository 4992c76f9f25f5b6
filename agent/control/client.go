package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
)

// ErrNoDaemon means no daemon listens on the control socket: there is no
// socket file, or a stale one that a daemon which died left behind. The
// command then works in-process.
var ErrNoDaemon = errors.New("no certagent daemon is running")

// ErrOtherDaemon means the daemon on the socket serves another
// configuration (another state_dir). The command then works in-process,
// as with ErrNoDaemon.
var ErrOtherDaemon = errors.New("the daemon on the control socket serves another configuration")

// Reply is the daemon's answer to one request.
type Reply struct {
	// Result is the op's payload; nil when the op has none.
	Result json.RawMessage
	// Exit is the exit code the command returns; Error says why when it
	// is not 0.
	Exit  int
	Error string
}

// Do sends req to the daemon listening at path and calls onLog (if not
// nil) for each log record as it arrives. It returns the daemon's reply,
// or an error wrapping ErrNoDaemon when no daemon listens, ErrOtherDaemon
// when the daemon serves another configuration, or another
// error when the exchange failed (the request's fate is then in the
// journal). Cancelling ctx closes the connection; a request already taken
// by the daemon still completes there.
func Do(ctx context.Context, path string, req Request, onLog func(Message)) (Reply, error) {
	path = filepath.Clean(path) // as Listen binds it
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return Reply{}, fmt.Errorf("%w (%s: %v)", ErrNoDaemon, path, unwrapOp(err))
		}
		return Reply{}, fmt.Errorf("cannot reach the daemon's control socket: %w", err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	// The socket's directory is root's, but check who answers anyway: a
	// stand-in could otherwise report any verdict.
	uid, _, err := peerCred(conn)
	if err != nil {
		return Reply{}, fmt.Errorf("control socket %s: %w", path, err)
	}
	if !allowedUID(uid, os.Geteuid()) {
		return Reply{}, fmt.Errorf("control socket %s is served by uid %d, not root: refusing it", path, uid)
	}
	req.V = Version
	b, err := json.Marshal(req)
	if err != nil {
		return Reply{}, err
	}
	if _, err := conn.Write(append(b, '\n')); err != nil {
		return Reply{}, fmt.Errorf("send the request: %w", ctxErr(ctx, err))
	}
	return readReply(ctx, conn, onLog)
}

func readReply(ctx context.Context, r io.Reader, onLog func(Message)) (Reply, error) {
	var rep Reply
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxReply)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return rep, fmt.Errorf("bad message from the daemon: %w", err)
		}
		switch m.Type {
		case TypeLog:
			if onLog != nil {
				onLog(m)
			}
		case TypeResult:
			rep.Result = m.Result
		case TypeVerdict:
			rep.Exit, rep.Error = m.Exit, m.Error
			if m.Mismatch {
				return rep, fmt.Errorf("%w: %s", ErrOtherDaemon, m.Error)
			}
			return rep, nil
		}
		// Unknown types come from a newer daemon: skip them.
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("read the daemon's answer: %w", ctxErr(ctx, err))
	}
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	return rep, errors.New("the daemon closed the connection before its verdict (did it stop? see journalctl -u certagent)")
}

// ctxErr prefers the context's error over the closed-connection error its
// cancellation caused.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// unwrapOp drops net.OpError's "dial unix PATH:" prefix, which the caller
// already says.
func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

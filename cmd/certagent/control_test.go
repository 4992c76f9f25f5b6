package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/certagent/certagent/agent/control"
)

// TestAskDaemonOlderDaemon: a daemon from before an op (upgraded binary,
// daemon not restarted) answers it with exit 2 "unknown op"; the command
// then works in-process (errNoDaemon) and prints nothing of it.
func TestAskDaemonOlderDaemon(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			bufio.NewReader(c).ReadString('\n')
			fmt.Fprintln(c, `{"type":"verdict","exit":2,"error":"unknown op \"revoke\"; this daemon knows renew, status and reload (is certagent upgraded but the daemon not restarted?)"}`)
			c.Close()
		}
	}()
	var out, errb bytes.Buffer
	env := &cmdEnv{stdout: &out, stderr: &errb}
	_, err = askDaemon(context.Background(), env, path, control.Request{Op: control.OpRevoke, Names: []string{"web"}}, true)
	if !errors.Is(err, errNoDaemon) || errb.Len() != 0 {
		t.Errorf("revoke to an older daemon: %v, stderr %q; want errNoDaemon and nothing printed", err, errb.String())
	}
	// An op it does know failing as a usage error stays the daemon's verdict.
	rep, err := askDaemon(context.Background(), env, path, control.Request{Op: control.OpRenew}, false)
	if err != nil || rep.Exit != exitUsage || errb.Len() == 0 {
		t.Errorf("renew to that daemon: %+v, %v, stderr %q; want its exit 2 printed", rep, err, errb.String())
	}
}

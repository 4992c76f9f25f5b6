package control

import (
	"net"
	"syscall"
)

// peerCred returns the uid and pid of the process at the other end of
// conn, as the kernel recorded them at connect (SO_PEERCRED): a peer
// cannot fake them, unlike anything it sends.
func peerCred(conn *net.UnixConn) (uid uint32, pid int32, err error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return 0, 0, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := rc.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, 0, err
	}
	if serr != nil {
		return 0, 0, serr
	}
	return cred.Uid, cred.Pid, nil
}

// allowedUID: root, or self, the uid this process runs as (a daemon run
// by an unprivileged user for tests, and its commands).
func allowedUID(uid uint32, self int) bool {
	return uid == 0 || int(uid) == self
}

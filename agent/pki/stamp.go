package pki

import "golang.org/x/sys/unix"

// Stamp identifies one version of a file: which inode (device and
// number) and its size, modification and change times and owner and
// mode. Any write, truncation, chmod, chown, link or unlink of the inode
// sets its change time (ctime) to the kernel's clock, which no
// unprivileged user can set (utimensat sets mtime and atime only), and a
// new inode that reuses the number gets a new ctime too. So a file whose
// Stamp is unchanged holds what it held when stamped, provided its ctime
// was already in the past then (see the inspection cache in
// docs/security.md for the clock-tick race that proviso closes).
type Stamp struct {
	Dev, Ino         uint64
	Size             int64
	MtimeNs, CtimeNs int64
	Mode, UID, GID   uint32
}

// StampOf is the Stamp of a stat result.
func StampOf(st *unix.Stat_t) Stamp {
	return Stamp{Dev: st.Dev, Ino: st.Ino, Size: st.Size,
		MtimeNs: st.Mtim.Nano(), CtimeNs: st.Ctim.Nano(),
		Mode: st.Mode, UID: st.Uid, GID: st.Gid}
}

// Read is one file an inspection read, and the Stamp of what it read.
type Read struct {
	File  string
	Stamp Stamp
}

// Package store is certagent's crash-safe writer and its state directory:
// atomic, journaled replacement of a cert's set of files (key, cert,
// chain, ...), per-attempt staging directories, the previous set kept for
// rollback, the durable set of pending unit actions, status.json and the
// lock that serializes a daemon and a one-shot `certagent renew`.
//
// The on-disk layout, journal format and recovery rules are documented in
// docs/storage.md. The invariant: after a crash at any instant followed by
// Recover, every set written by Commit is entirely old or entirely new.
package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/certagent/certagent/internal/safefile"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"
)

// File is one output file of a cert's set.
type File struct {
	// Path is the absolute target path.
	Path string
	Data []byte
	// Mode holds the permission bits of the file.
	Mode os.FileMode
	// UID and GID are the owner; -1 keeps the process's own.
	UID, GID int
	// DirMode is the mode of missing parent directories, which are
	// created (exactly this mode, umask ignored); 0 means 0755.
	DirMode os.FileMode
	// FollowSymlinks allows a target that is a trusted symlink (owned by
	// root or us, in a directory only root or we can write, with every
	// directory and link on its target's path trusted too); the file it
	// points to is then replaced. Any other symlink there is refused.
	FollowSymlinks bool
}

// Intent says that unit Unit needs action Action because cert Cert changed.
type Intent struct {
	Unit   string `json:"unit"`
	Action string `json:"action"`
	Cert   string `json:"cert"`
}

// Result reports what Commit did, by File.Path.
type Result struct {
	// Changed lists the paths whose bytes changed.
	Changed []string
	// Fixed lists the unchanged paths whose mode or owner was corrected.
	Fixed []string
}

// Subdirectories of the state directory.
const (
	stagingDir  = "staging"
	previousDir = "previous"
	journalDir  = "journal"
	lockFile    = "lock"
	statusFile  = "status.json"
)

// Store is a state directory. Its methods are safe for concurrent use;
// Commits of different certs run in parallel, Commits of one cert are
// serialized. Cross-process exclusion is the caller's job, with Lock.
type Store struct {
	dir    string
	logger hclog.Logger
	ops    fsOps

	mu    sync.Mutex           // guards certs and allow
	certs map[string]*certLock // the cert locks held or waited for
	allow func() Allowed       // makes what journal recovery accepts; nil: all
	imu   sync.Mutex           // guards the pending-intents file

	bmu   sync.Mutex        // guards stuck and the rewrite of a stuck batch record
	stuck map[string]string // cert -> batch record still holding its committed set
}

// Open creates dir (0700) and its subdirectories if needed, and removes
// group/other permissions from them if they exist looser. It refuses a
// dir that is not trusted (see checkStateDir) with an error wrapping
// ErrUntrustedStateDir. It does no recovery and starts nothing.
func Open(dir string, logger hclog.Logger) (*Store, error) {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("state dir %s: %w", dir, err)
	}
	if err := checkStateDir(abs); err != nil {
		return nil, err
	}
	for _, d := range []string{abs, filepath.Join(abs, stagingDir), filepath.Join(abs, previousDir), filepath.Join(abs, journalDir)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create state dir: %w", err)
		}
		fi, err := os.Lstat(d)
		if err != nil {
			return nil, fmt.Errorf("create state dir: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("state dir %s is not a directory", d)
		}
		// An existing directory (systemd's StateDirectory= defaults to
		// 0755) is tightened: it holds keys.
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(d, fi.Mode().Perm()&0o700); err != nil {
				return nil, fmt.Errorf("tighten state dir: %w", err)
			}
			logger.Named("store").Warn("tightened state directory permissions", "path", d,
				"old_mode", fmt.Sprintf("%04o", fi.Mode().Perm()), "mode", fmt.Sprintf("%04o", fi.Mode().Perm()&0o700))
		}
	}
	// Checked again now that it exists: it may have been created by
	// someone else in between, which a trusted parent rules out.
	if err := checkStateDir(abs); err != nil {
		return nil, err
	}
	return &Store{dir: abs, logger: logger.Named("store"), ops: realOps(), stuck: map[string]string{}}, nil
}

// Dir returns the absolute state directory.
func (s *Store) Dir() string { return s.dir }

// Lock takes an exclusive flock on dir/lock, waiting until it is free or
// ctx is done. release drops it; calling release more than once is fine.
// flock locks belong to the open file, so two Stores in one process
// exclude each other too.
func (s *Store) Lock(ctx context.Context) (release func(), err error) {
	p := filepath.Join(s.dir, lockFile)
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, pathErr("open", p, err)
	}
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			_ = unix.Close(fd)
			return nil, pathErr("flock", p, err)
		}
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = unix.Close(fd)
			return nil, fmt.Errorf("waiting for lock %s (held by another certagent): %w", p, ctx.Err())
		case <-t.C:
		}
	}
	var once sync.Once
	return func() { once.Do(func() { _ = unix.Close(fd) }) }, nil
}

// Staging returns dir/staging/<cert>/, empty and 0700. cleanup removes it;
// call it after success and after failure.
func (s *Store) Staging(cert string) (dir string, cleanup func(), err error) {
	if err := checkCertName(cert); err != nil {
		return "", nil, err
	}
	dir = filepath.Join(s.dir, stagingDir, cert)
	if err := os.RemoveAll(dir); err != nil {
		return "", nil, fmt.Errorf("wipe staging: %w", err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", nil, fmt.Errorf("create staging: %w", err)
	}
	cleanup = func() {
		if err := os.RemoveAll(dir); err != nil {
			s.logger.Error("cannot delete staging directory", "cert", cert, "path", dir, "error", err)
		}
	}
	return dir, cleanup, nil
}

// WriteStatus atomically replaces dir/status.json (0600).
func (s *Store) WriteStatus(b []byte) error {
	return s.writeAtomic(s.dir, statusFile, b)
}

// ReadStatus returns dir/status.json; the error wraps fs.ErrNotExist if
// it was never written.
func (s *Store) ReadStatus() ([]byte, error) {
	return os.ReadFile(filepath.Join(s.dir, statusFile))
}

// StatStatus describes dir/status.json as it is now, so a writer can tell
// later whether someone else replaced it without reading it again.
func (s *Store) StatStatus() (os.FileInfo, error) {
	return os.Stat(filepath.Join(s.dir, statusFile))
}

// checkCertName keeps cert names usable as one path component.
func checkCertName(cert string) error {
	if cert == "" || cert == "." || cert == ".." || strings.HasPrefix(cert, ".") ||
		strings.ContainsAny(cert, "/\x00") || len(cert) > 200 {
		return fmt.Errorf("cert name %q cannot be stored: it must be 1-200 bytes, not start with '.', and contain no '/' or NUL", cert)
	}
	return nil
}

// certLock serializes the Commits (and recovery) of one cert. It exists
// only while someone holds or waits for it: kept for every cert ever
// committed, the locks cost about 60 bytes of heap per cert.
type certLock struct {
	sync.Mutex
	users int // holders and waiters, under Store.mu
}

// lockCert takes cert's lock and returns the function that releases it.
func (s *Store) lockCert(cert string) (unlock func()) {
	s.mu.Lock()
	l := s.certs[cert]
	if l == nil {
		if s.certs == nil {
			s.certs = map[string]*certLock{}
		}
		l = &certLock{}
		s.certs[cert] = l
	}
	l.users++
	s.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		s.mu.Lock()
		defer s.mu.Unlock()
		if l.users--; l.users == 0 {
			delete(s.certs, cert)
			if len(s.certs) == 0 {
				s.certs = nil // a map keeps its size after deletes
			}
		}
	}
}

// tempName is the name of a temp file next to base (safefile.TempName:
// every temp certagent creates has this form, so Recover finds them all).
func tempName(base string) string { return safefile.TempName(base) }

func isTempName(name string) bool { return safefile.IsTemp(name) }

// writeAtomic replaces dir/name (a trusted state-dir path) with data, 0600:
// temp, write, fsync, rename, fsync dir.
func (s *Store) writeAtomic(dir, name string, data []byte) error {
	d, err := openDir(dir, false, 0)
	if err != nil {
		return err
	}
	defer d.close()
	return d.Replace(name, data, safefile.Private, s.ops.sf())
}

func (s *Store) syncDir(d *dirHandle) error {
	if err := s.ops.fsyncDir(d.fd); err != nil {
		return pathErr("fsync", d.path, err)
	}
	return nil
}

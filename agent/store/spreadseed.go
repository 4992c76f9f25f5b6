package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// spreadSeedFile holds the per-install random seed (hex, one line).
const spreadSeedFile = "spread-seed"

// SpreadSeedSize is the length in bytes of the per-install seed.
const SpreadSeedSize = 32

// SpreadSeed returns the per-install random seed kept in dir/spread-seed,
// creating it (0600) on first use. Hosts cloned from one image with one
// config differ only by this value, which is why it is never derived from
// anything on the host. The file is linked into place only when complete,
// so a crash leaves either no seed or a whole one; when two processes
// create it at once, both end up with the one that was linked first. A
// file that is not a seed (damaged, truncated by hand) is replaced and
// the replacement reported in replaced.
func (s *Store) SpreadSeed() (seed []byte, replaced bool, err error) {
	d, err := openDir(s.dir, false, 0)
	if err != nil {
		return nil, false, err
	}
	defer d.close()
	seed, err = readSeed(d)
	switch {
	case err == nil:
		return seed, false, nil
	case !errors.Is(err, os.ErrNotExist):
		// Unreadable or malformed: a fresh seed only moves this host's
		// renewal times within their jitter window.
		seed, err = s.newSeed(d, true)
		return seed, err == nil, err
	}
	if seed, err = s.newSeed(d, false); errors.Is(err, os.ErrExist) {
		seed, err = readSeed(d) // another process linked its seed first
	}
	return seed, false, err
}

// readSeed reads and decodes the seed file; a missing file wraps
// os.ErrNotExist.
func readSeed(d *dirHandle) ([]byte, error) {
	fd, err := unix.Openat(d.fd, spreadSeedFile, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, pathErr("open", d.join(spreadSeedFile), err)
	}
	f := os.NewFile(uintptr(fd), d.join(spreadSeedFile))
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4*SpreadSeedSize))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(seed) != SpreadSeedSize {
		return nil, fmt.Errorf("%s holds no %d-byte hex seed", f.Name(), SpreadSeedSize)
	}
	return seed, nil
}

// newSeed writes a fresh seed to a temp file and links it into place;
// with replace it renames over whatever is there instead. An existing
// seed makes the link fail with an error wrapping os.ErrExist.
func (s *Store) newSeed(d *dirHandle, replace bool) ([]byte, error) {
	seed := make([]byte, SpreadSeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, fmt.Errorf("make spread seed: %w", err)
	}
	tmp := tempName(spreadSeedFile)
	f, err := s.createTemp(d, tmp, -1, -1, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = unix.Unlinkat(d.fd, tmp, 0) }()
	if err := s.fillTemp(f, []byte(hex.EncodeToString(seed)+"\n")); err != nil {
		return nil, err
	}
	if replace {
		err = s.ops.renameat(d.fd, tmp, d.fd, spreadSeedFile)
	} else {
		err = unix.Linkat(d.fd, tmp, d.fd, spreadSeedFile, 0)
	}
	if err != nil {
		return nil, pathErr("link", d.join(spreadSeedFile), err)
	}
	return seed, s.syncDir(d)
}

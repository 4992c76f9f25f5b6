package agent

// The inspection cache on disk: state_dir/inspect-cache, so that a start
// or a one-shot `certagent renew` over thousands of certs does not parse
// and verify every pair again. The file is root's (the state directory
// is), and still only a hint: an entry counts only when its signature
// matches the files and config as they are now (statecache.go), so a
// stale, foreign or corrupt file costs a full inspection, never a wrong
// verdict. The whole file is ignored unless it is whole (a SHA-256 of the
// rest ends it), of this format version and written by this very
// executable (buildID).

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"

	"github.com/certagent/certagent/internal/safefile"
	"golang.org/x/sys/unix"
)

// inspectCacheFile is the cache's name in state_dir.
const inspectCacheFile = "inspect-cache"

const (
	cacheMagic   = "certagent inspect-cache\n"
	cacheVersion = 1
	// cacheMaxSize bounds the file read: about 130 bytes per cert.
	cacheMaxSize = 64 << 20
)

// buildID names this executable: a cache written by another build may
// lack a check this one makes, so it is not used. The build info alone
// does not tell builds apart (a build without VCS stamping is "(devel)"),
// so the executable file's identity (inode, size, times) is in it too:
// an upgrade, even a reinstall, replaces the file.
var buildID = func() [16]byte {
	h := sha256.New()
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintln(h, bi.GoVersion, bi.Main.Path, bi.Main.Version, bi.Main.Sum)
		for _, s := range bi.Settings {
			fmt.Fprintln(h, s.Key, s.Value)
		}
	}
	if exe, err := os.Executable(); err == nil {
		var st unix.Stat_t
		if unix.Stat(exe, &st) == nil {
			fmt.Fprintln(h, exe, st.Dev, st.Ino, st.Size, st.Mtim.Nano(), st.Ctim.Nano())
		}
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}()

// encodeCache writes the entries of c for the names given.
func encodeCache(c *inspectCache, all []string) []byte {
	var names []string
	for _, n := range all {
		if e := c.entries[n]; e != nil && len(n) <= 0xffff && len(e.leaf.serial) <= 0xff && len(e.issuedBy) <= 0xff {
			names = append(names, n)
		}
	}
	var b bytes.Buffer
	b.WriteString(cacheMagic)
	put := func(v any) { _ = binary.Write(&b, binary.BigEndian, v) }
	put(uint32(cacheVersion))
	b.Write(buildID[:])
	put(uint32(len(names)))
	for _, n := range names {
		e := c.entries[n]
		put(uint16(len(n)))
		b.WriteString(n)
		b.Write(e.sig[:])
		put(e.leaf.notBefore)
		put(e.leaf.notAfter)
		b.WriteByte(byte(len(e.leaf.serial)))
		b.WriteString(e.leaf.serial)
		b.Write(e.leaf.sum[:])
		put(e.from)
		put(e.until)
		b.WriteByte(byte(len(e.issuedBy)))
		b.WriteString(e.issuedBy)
		put(e.issuedByKnown)
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	return b.Bytes()
}

var errCacheFormat = errors.New("not an inspection cache of this build")

// decodeCache parses a cache file; any flaw rejects all of it.
func decodeCache(data []byte) (map[string]*cacheEntry, error) {
	if len(data) < len(cacheMagic)+4+16+4+sha256.Size {
		return nil, errCacheFormat
	}
	body, sum := data[:len(data)-sha256.Size], data[len(data)-sha256.Size:]
	if s := sha256.Sum256(body); !bytes.Equal(s[:], sum) {
		return nil, errors.New("checksum mismatch")
	}
	r := bytes.NewReader(body)
	magic := make([]byte, len(cacheMagic))
	var version, count uint32
	var build [16]byte
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != cacheMagic {
		return nil, errCacheFormat
	}
	if binary.Read(r, binary.BigEndian, &version) != nil || version != cacheVersion {
		return nil, errCacheFormat
	}
	if _, err := io.ReadFull(r, build[:]); err != nil || build != buildID {
		return nil, errCacheFormat
	}
	if binary.Read(r, binary.BigEndian, &count) != nil || int64(count) > int64(r.Len()) {
		return nil, errCacheFormat
	}
	out := make(map[string]*cacheEntry, count)
	for range count {
		name, e, err := decodeEntry(r)
		if err != nil {
			return nil, err
		}
		out[name] = e
	}
	if r.Len() != 0 {
		return nil, errCacheFormat
	}
	return out, nil
}

func decodeEntry(r *bytes.Reader) (string, *cacheEntry, error) {
	var fail error
	get := func(v any) {
		if fail == nil {
			fail = binary.Read(r, binary.BigEndian, v)
		}
	}
	bytesOf := func(n int) []byte {
		b := make([]byte, n)
		if fail == nil {
			_, fail = io.ReadFull(r, b)
		}
		return b
	}
	var nameLen uint16
	get(&nameLen)
	name := string(bytesOf(int(nameLen)))
	e := &cacheEntry{leaf: &leafSummary{}}
	copy(e.sig[:], bytesOf(16))
	var nb, na int64
	get(&nb)
	get(&na)
	var serialLen uint8
	get(&serialLen)
	e.leaf.serial = string(bytesOf(int(serialLen)))
	copy(e.leaf.sum[:], bytesOf(32))
	get(&e.from)
	get(&e.until)
	var byLen uint8
	get(&byLen)
	e.issuedBy = string(bytesOf(int(byLen)))
	get(&e.issuedByKnown)
	if fail != nil || name == "" || len(e.issuedBy) > 0 && !e.issuedByKnown {
		return "", nil, errCacheFormat
	}
	e.leaf.notBefore, e.leaf.notAfter = nb, na
	return name, e, nil
}

// loadInspectCache reads state_dir's cache: empty when there is none or
// it is not one this build wrote whole. Read like every file root reads
// (safefile), and only a regular file of root's (or this process's user)
// that nobody else may write counts.
func loadInspectCache(stateDir string) (*inspectCache, error) {
	empty := &inspectCache{entries: map[string]*cacheEntry{}}
	f, err := safefile.OpenRead(filepath.Join(stateDir, inspectCacheFile), func(st *unix.Stat_t) error {
		switch {
		case st.Mode&unix.S_IFMT != unix.S_IFREG:
			return errors.New("not a regular file")
		case st.Mode&0o022 != 0 || (st.Uid != 0 && int(st.Uid) != unix.Geteuid()):
			return errors.New("writable by others")
		case st.Size > cacheMaxSize:
			return errors.New("too large")
		}
		return nil
	})
	if err != nil {
		return empty, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, cacheMaxSize+1))
	if err != nil {
		return empty, err
	}
	entries, err := decodeCache(data)
	if err != nil {
		return empty, err
	}
	return &inspectCache{entries: entries}, nil
}

// saveInspectCache writes the cache for the names given (safefile:
// temp file, fsync, rename).
func saveInspectCache(stateDir string, c *inspectCache, names []string) error {
	d, err := safefile.OpenDir(stateDir, false, 0)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Replace(inspectCacheFile, encodeCache(c, names), safefile.Private, nil)
}

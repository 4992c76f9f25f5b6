package agent

// The inspection cache: a clean inspection of a cert's files is not
// repeated while the files are provably the ones inspected. An entry
// vouches for a cert when the config identity of the cert (everything
// the inspection depends on, the issuer roots included), and the Stamp
// of its cert and key files (device, inode, size, mtime, ctime, owner,
// mode), hash to the entry's signature, and now is inside the window in
// which every certificate involved (leaf, chain, roots) is valid. Only
// clean verdicts are kept: any problem is found again by a full
// inspection each time. docs/security.md ("Inspection cache") has the
// argument for why a changed file can never hit.

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/safefile"
)

// cacheSettle is how far in the past a file's ctime must be, by the
// kernel's clock, for its inspection to be cached: a file changed in
// the same clock tick as it was stamped could keep its ctime.
const cacheSettle = 2 * time.Second

// cacheEntry is one cert's cached clean inspection.
type cacheEntry struct {
	sig         [16]byte // identity and file stamps (cacheSig)
	leaf        *leafSummary
	from, until int64 // unix seconds: the verdict holds for from <= now < until
	// issuedBy is what state_dir/issued-by recorded for the leaf's serial
	// (fallback_record.go), when known (issuedByKnown): that record is
	// only ever added to, so it is read once per serial, not per start.
	issuedBy      string
	issuedByKnown bool
}

// inspectCache maps cert names to entries. Workers of a pass only read
// it; the pass goroutine writes it.
type inspectCache struct {
	entries map[string]*cacheEntry
	dirty   bool // entries differ from the file on disk
}

// cacheable reports whether c's inspection is a function of its cert
// and key files alone: not with an encrypted key (the password file is a
// third input) or a key removed on purpose (a marker is).
func cacheable(c *config.Cert) bool {
	return !c.KeyPassword().IsSet() && !c.RemoveKeyAfterStart
}

// rootsSig identifies a set of issuer roots.
func rootsSig(roots []*x509.Certificate) [32]byte {
	h := sha256.New()
	h.Write([]byte{byte(len(roots) >> 8), byte(len(roots))})
	for _, r := range roots {
		s := sha256.Sum256(r.Raw)
		h.Write(s[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// cacheSig hashes what an entry vouches for: the cert's name and the
// config it is inspected under, the issuer roots, and the Stamps of its
// cert and key files.
func cacheSig(cfg *config.Config, c *config.Cert, roots [32]byte, cert, key pki.Stamp) [16]byte {
	h := sha256.New()
	str := func(s string) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	str("certagent inspection v1")
	str(c.Name)
	str(c.CertFile)
	str(c.KeyFile)
	str(c.KeyType)
	str(strconv.Itoa(cfg.Agent.MinRSABits))
	for _, f := range c.OutputFiles() {
		str(f)
	}
	str("dns")
	for _, d := range c.DNSNames {
		str(d)
	}
	str("ip")
	for _, ip := range c.IPs {
		str(ip.String())
	}
	h.Write(roots[:])
	for _, s := range []pki.Stamp{cert, key} {
		var b [56]byte
		binary.BigEndian.PutUint64(b[0:], s.Dev)
		binary.BigEndian.PutUint64(b[8:], s.Ino)
		binary.BigEndian.PutUint64(b[16:], uint64(s.Size))
		binary.BigEndian.PutUint64(b[24:], uint64(s.MtimeNs))
		binary.BigEndian.PutUint64(b[32:], uint64(s.CtimeNs))
		binary.BigEndian.PutUint32(b[40:], s.Mode)
		binary.BigEndian.PutUint32(b[44:], s.UID)
		binary.BigEndian.PutUint32(b[48:], s.GID)
		h.Write(b[:])
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
}

// inspectJob is what one inspection of a pass needs, read by a worker.
type inspectJob struct {
	cfg   *config.Config
	c     *config.Cert
	roots []*x509.Certificate
	rsig  [32]byte
	entry *cacheEntry // the cached verdict, if any
	walk  *safefile.Walker
	now   time.Time
	// wall is the kernel's clock (time.Now, not the agent's clock),
	// read before the files: ctimes are compared with it (cacheSettle).
	wall time.Time
}

// inspectResult is an inspection's observation, and the cache entry it
// makes (nil: keep none) unless it was a hit.
type inspectResult struct {
	obs   observation
	hit   bool
	entry *cacheEntry
}

// runInspect observes a cert's files through the cache: a pure function
// of the files, the config and the entry; it changes nothing.
func runInspect(j inspectJob) inspectResult {
	if !cacheable(j.c) {
		return inspectResult{obs: observeCert(j.cfg, j.c, j.roots, j.now)}
	}
	if obs, ok := cacheHit(j); ok {
		return inspectResult{obs: obs, hit: true}
	}
	exp := pki.Expect{DNSNames: j.c.DNSNames, IPs: j.c.IPs, KeyType: pki.KeyType(j.c.KeyType),
		Roots: j.roots, MinRSABits: j.cfg.Agent.MinRSABits}
	rep, keyRemoved := InspectCert(j.cfg.Agent.StateDir, j.c, exp, j.now)
	obs := observation{leaf: summarize(rep.Leaf), problems: rep.Problems, keyRemoved: keyRemoved,
		revoked: readRevocationVia(j.walk, j.cfg.Agent.StateDir, j.c.Name)}
	return inspectResult{obs: obs, entry: newEntry(j, rep, obs.leaf)}
}

// cacheHit is the cached observation when j.entry vouches for the files
// as they are now (see the file comment).
func cacheHit(j inspectJob) (observation, bool) {
	e := j.entry
	if e == nil || j.now.Unix() < e.from || j.now.Unix() >= e.until {
		return observation{}, false
	}
	cst, err := j.walk.Lstat(j.c.CertFile)
	if err != nil {
		return observation{}, false
	}
	kst, err := j.walk.Lstat(j.c.KeyFile)
	if err != nil || cacheSig(j.cfg, j.c, j.rsig, pki.StampOf(&cst), pki.StampOf(&kst)) != e.sig {
		return observation{}, false
	}
	for _, f := range j.c.OutputFiles() {
		if f == j.c.KeyFile || f == j.c.CertFile {
			continue
		}
		if _, err := j.walk.Lstat(f); err != nil {
			return observation{}, false // InspectCert says what is wrong
		}
	}
	return observation{leaf: e.leaf, revoked: readRevocationVia(j.walk, j.cfg.Agent.StateDir, j.c.Name)}, true
}

// newEntry caches a clean report whose files had settled (their ctime
// at least cacheSettle before j.wall): nil otherwise.
func newEntry(j inspectJob, rep pki.Report, leaf *leafSummary) *cacheEntry {
	if len(rep.Problems) > 0 || rep.Leaf == nil || len(rep.Reads) != 2 ||
		rep.Reads[0].File != j.c.CertFile || rep.Reads[1].File != j.c.KeyFile {
		return nil
	}
	limit := j.wall.Add(-cacheSettle).UnixNano()
	for _, r := range rep.Reads {
		if r.Stamp.CtimeNs <= 0 || r.Stamp.CtimeNs > limit || !rootOnlyWritable(r.Stamp) {
			return nil
		}
	}
	e := &cacheEntry{sig: cacheSig(j.cfg, j.c, j.rsig, rep.Reads[0].Stamp, rep.Reads[1].Stamp), leaf: leaf}
	e.from, e.until = validWindow(append(append([]*x509.Certificate{rep.Leaf}, rep.Chain...), j.roots...))
	if e.from >= e.until {
		return nil
	}
	return e
}

// rootOnlyWritable reports whether only root can write the file stamped
// st: owned by root, without group or other write (with an ACL the group
// bits are its mask, so no named entry grants write either). A write
// through a shared writable mapping moves the ctime only at the first
// write fault after writeback (ext4), or never (tmpfs), so an inode
// another user can write (`owner = ...`, a group-writable mode) may
// change under an unchanged Stamp: its verdict is not cached.
func rootOnlyWritable(st pki.Stamp) bool {
	return st.UID == 0 && st.Mode&0o022 == 0
}

// validWindow is the time span (unix seconds) in which every cert of
// certs is valid: the inspection's time checks pass for a now inside it.
func validWindow(certs []*x509.Certificate) (from, until int64) {
	from, until = 0, 1<<62
	for _, c := range certs {
		from = max(from, c.NotBefore.Unix())
		until = min(until, c.NotAfter.Unix())
	}
	return from, until
}

// readRevocationVia is readRevocation, with the (usual) absence of a
// record found by one fstatat through w.
func readRevocationVia(w *safefile.Walker, stateDir, cert string) *revocationRecord {
	if w != nil {
		if _, err := w.Lstat(filepath.Join(stateDir, revokedDir, cert)); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	return readRevocation(stateDir, cert)
}

// apply takes in one pass's result for the cert name.
func (c *inspectCache) apply(name string, r inspectResult) {
	switch {
	case r.hit:
	case r.entry != nil:
		c.entries[name] = r.entry
		c.dirty = true
	case c.entries[name] != nil:
		delete(c.entries, name)
		c.dirty = true
	}
}

// prune drops the entries of certs no longer configured.
func (c *inspectCache) prune(keep func(string) bool) {
	for name := range c.entries {
		if !keep(name) {
			delete(c.entries, name)
			c.dirty = true
		}
	}
}

// sortedNames lists the cached certs in order (a deterministic file).
func (c *inspectCache) sortedNames() []string {
	names := make([]string, 0, len(c.entries))
	for n := range c.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

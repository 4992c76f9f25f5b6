package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/safefile"
)

// cacheFixture is a test agent whose cert "a" was issued, and the job
// that inspects it. wall is an hour ahead: the files count as settled
// (cacheSettle) without the test waiting for the kernel's clock.
func cacheFixture(t *testing.T) (*testAgent, inspectJob) {
	t.Helper()
	ta := newTestAgent(t, threeCertsOneUnit)
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	roots, _ := ta.iss.Roots(context.Background())
	w := safefile.NewWalker()
	t.Cleanup(w.Close)
	return ta, inspectJob{cfg: ta.cfg, c: ta.cfg.Certs["a"], roots: roots, rsig: rootsSig(roots), walk: w,
		now: time.Now(), wall: time.Now().Add(time.Hour)}
}

// TestInspectCacheHit: a clean inspection makes an entry, and the entry
// stands for the same files under the same config.
func TestInspectCacheHit(t *testing.T) {
	_, j := cacheFixture(t)
	first := runInspect(j)
	if first.hit || first.entry == nil || len(first.obs.problems) > 0 || first.obs.leaf == nil {
		t.Fatalf("first inspection: hit %v, entry %v, problems %v", first.hit, first.entry, first.obs.problems)
	}
	j.entry = first.entry
	again := runInspect(j)
	if !again.hit || again.obs.leaf.Serial() != first.obs.leaf.Serial() || len(again.obs.problems) > 0 {
		t.Fatalf("same files: hit %v, serial %s (want %s)", again.hit, again.obs.leaf.Serial(), first.obs.leaf.Serial())
	}
	// Outside the validity window of the certs involved, the full
	// inspection judges the time again.
	j.now = time.Unix(first.entry.until, 0)
	if r := runInspect(j); r.hit {
		t.Error("a hit at the end of the leaf's validity")
	}
}

// TestInspectCacheFreshFilesNotCached: a file whose ctime is not yet
// cacheSettle in the past could change again within the same clock tick
// without a new ctime, so its verdict is not kept.
func TestInspectCacheFreshFilesNotCached(t *testing.T) {
	_, j := cacheFixture(t)
	j.wall = time.Now()
	if r := runInspect(j); r.entry != nil {
		t.Error("files written a moment ago were cached")
	}
}

// TestInspectCacheRewriteInPlace: the service user rewrites the cert in
// place, same size, and puts its mtime back: the ctime moved, so the
// entry no longer matches and the full inspection finds the damage.
func TestInspectCacheRewriteInPlace(t *testing.T) {
	_, j := cacheFixture(t)
	j.entry = runInspect(j).entry
	if j.entry == nil {
		t.Fatal("no entry")
	}
	p := j.c.CertFile
	orig, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	fi0, _ := os.Stat(p)
	ctime0 := fi0.Sys().(*syscall.Stat_t).Ctim
	bad := bytes.Clone(orig)
	i := bytes.Index(bad, []byte("-----END"))
	bad[i-10] ^= 'A' ^ 'B' // a base64 letter of the signature
	// Rewrite until the kernel's clock has moved past the original ctime
	// (a rewrite within the same tick is what cacheSettle is for).
	for {
		if err := os.WriteFile(p, bad, 0o644); err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(p); fi.Sys().(*syscall.Stat_t).Ctim != ctime0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if err := os.Chtimes(p, fi0.ModTime(), fi0.ModTime()); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(p); fi.Size() != fi0.Size() || !fi.ModTime().Equal(fi0.ModTime()) {
		t.Fatal("the rewrite changed the size or mtime")
	}
	r := runInspect(j)
	if r.hit || len(r.obs.problems) == 0 || r.entry != nil {
		t.Fatalf("rewritten cert: hit %v, problems %v, entry %v", r.hit, r.obs.problems, r.entry)
	}
}

// TestInspectCacheSwappedFile: another cert renamed (or hard-linked)
// over the name is another inode: no hit.
func TestInspectCacheSwappedFile(t *testing.T) {
	ta, j := cacheFixture(t)
	j.entry = runInspect(j).entry
	other := ta.cfg.Certs["b"].CertFile
	if err := os.Remove(j.c.CertFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(other, j.c.CertFile); err != nil {
		t.Fatal(err)
	}
	r := runInspect(j)
	if r.hit || len(r.obs.problems) == 0 {
		t.Fatalf("b's cert under a's name: hit %v, problems %v", r.hit, r.obs.problems)
	}
}

// TestInspectCacheOtherConfig: an entry made under another config (other
// names, key policy or roots) does not count.
func TestInspectCacheOtherConfig(t *testing.T) {
	ta, j := cacheFixture(t)
	j.entry = runInspect(j).entry
	names := *j.c
	names.DNSNames = []string{"other.example.com"}
	policy := *ta.cfg
	policy.Agent.MinRSABits = 4096
	for what, jj := range map[string]inspectJob{
		"names":  {cfg: j.cfg, c: &names, roots: j.roots, rsig: j.rsig},
		"policy": {cfg: &policy, c: j.c, roots: j.roots, rsig: j.rsig},
		"roots":  {cfg: j.cfg, c: j.c, roots: nil, rsig: rootsSig(nil)},
	} {
		jj.entry, jj.walk, jj.now, jj.wall = j.entry, j.walk, j.now, j.wall
		if r := runInspect(jj); r.hit {
			t.Errorf("an entry from another config (%s) was used", what)
		}
	}
	if r := runInspect(j); !r.hit {
		t.Error("the entry no longer hits under its own config")
	}
}

// TestInspectCacheFile: the cache survives a round trip through
// state_dir, and a corrupt, truncated, foreign-version or missing file is
// an empty cache.
func TestInspectCacheFile(t *testing.T) {
	_, j := cacheFixture(t)
	r := runInspect(j)
	c := &inspectCache{entries: map[string]*cacheEntry{"a": r.entry}}
	r.entry.issuedBy, r.entry.issuedByKnown = "ca", true
	dir := j.cfg.Agent.StateDir
	if err := saveInspectCache(dir, c, c.sortedNames()); err != nil {
		t.Fatal(err)
	}
	got, err := loadInspectCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := got.entries["a"]
	if e == nil || e.sig != r.entry.sig || e.leaf.Serial() != r.entry.leaf.Serial() || e.leaf.sum != r.entry.leaf.sum ||
		!e.leaf.NotAfter().Equal(r.entry.leaf.NotAfter()) || e.from != r.entry.from || e.until != r.entry.until || e.issuedBy != "ca" {
		t.Fatalf("round trip: %+v, want %+v", e, r.entry)
	}
	j.entry = e
	if !runInspect(j).hit {
		t.Error("the entry read back does not hit")
	}
	good := encodeCache(c, c.sortedNames())
	p := filepath.Join(dir, inspectCacheFile)
	flipped := bytes.Clone(good)
	flipped[len(cacheMagic)+30] ^= 1
	// Whole files (checksum right) of another version or build.
	reseal := func(at int) []byte {
		b := bytes.Clone(good[:len(good)-sha256.Size])
		b[at]++
		s := sha256.Sum256(b)
		return append(b, s[:]...)
	}
	for what, data := range map[string][]byte{
		"garbage": []byte("not a cache"), "flipped bit": flipped, "truncated": good[:len(good)-1],
		"other version": reseal(len(cacheMagic) + 3), "other build": reseal(len(cacheMagic) + 4), "empty": nil,
	} {
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if got, err := loadInspectCache(dir); err == nil || len(got.entries) != 0 {
			t.Errorf("%s cache file: %d entries, error %v", what, len(got.entries), err)
		}
	}
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if got, err := loadInspectCache(dir); !isNotExist(err) || len(got.entries) != 0 {
		t.Errorf("no cache file: %d entries, error %v", len(got.entries), err)
	}
}

// TestInspectCacheNotForEncryptedKeys: a cert whose verdict depends on
// more than its two files is never cached.
func TestInspectCacheNotForEncryptedKeys(t *testing.T) {
	if cacheable(&config.Cert{RemoveKeyAfterStart: true}) {
		t.Error("remove_key_after_start is cacheable")
	}
	if !cacheable(&config.Cert{}) {
		t.Error("a plain cert is not cacheable")
	}
}

// TestInspectCacheWritableFileNotCached: a write through a shared
// writable mapping moves the ctime only at the first write fault after
// writeback (ext4) or never (tmpfs), so an inode anyone but root can
// write can change under an unchanged Stamp. The owner (here uid 65534,
// as `owner = ...` makes it) keeps a mapping across the inspection and
// then breaks the cert through it: the verdict must not have been kept.
func TestInspectCacheWritableFileNotCached(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	for _, tc := range []struct {
		name string
		set  func(p string) error
	}{
		{"foreign owner", func(p string) error { return os.Chown(p, 65534, 65534) }},
		{"group writable", func(p string) error { return os.Chmod(p, 0o664) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, j := cacheFixture(t)
			p := j.c.CertFile
			if err := tc.set(p); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			fi, _ := f.Stat()
			m, err := syscall.Mmap(int(f.Fd()), 0, int(fi.Size()), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Munmap(m)
			i := bytes.Index(m, []byte("-----END"))
			m[i-10] ^= 1 // the write fault, before the stamp
			m[i-10] ^= 1
			first := runInspect(j)
			if len(first.obs.problems) > 0 {
				t.Fatalf("the intact pair: problems %v", first.obs.problems)
			}
			j.entry = first.entry
			ctime0 := statCtime(t, p)
			m[i-10] ^= 'A' ^ 'B' // a base64 letter of the signature
			if statCtime(t, p) != ctime0 {
				t.Log("this kernel moved the ctime on a mapped write")
			}
			r := runInspect(j)
			if r.hit || len(r.obs.problems) == 0 {
				t.Fatalf("cert broken through a mapping: hit %v, problems %v", r.hit, r.obs.problems)
			}
		})
	}
}

func statCtime(t *testing.T, p string) syscall.Timespec {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ctim
}

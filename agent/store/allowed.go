package store

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"golang.org/x/sys/unix"
)

// Allowed is what the current configuration lets journal recovery act on,
// by cert name. A record is replayed (or its temps discarded) only if its
// cert is here, every file it renames is one of that cert's Outputs and
// every unit action or hook run it would queue is one of its Intents.
// Anything else was not written by this configuration (a config changed
// since the crash, or someone who could write the state directory) and is
// moved aside instead: a record must not be a way to rename a chosen file
// over a chosen path as root, or to restart a chosen unit.
type Allowed map[string]AllowedCert

// AllowedCert is one cert's entry in Allowed.
type AllowedCert struct {
	// Outputs are the cert's output paths, as given to Commit.
	Outputs []Output
	// Intents are the unit actions and hook runs a change of its files
	// queues, as given to Commit.
	Intents []Intent
}

// Output is one configured output file of a cert.
type Output struct {
	// Path is the absolute path as configured.
	Path string
	// FollowSymlinks is File.FollowSymlinks for it: Commit records the
	// directory of the file a followed link points to.
	FollowSymlinks bool
}

// Reasons a journal record is refused, logged as the reason key.
const (
	refusedCert   = "cert_not_configured"
	refusedTarget = "target_not_an_output"
	refusedIntent = "action_not_configured"
)

// refusal says why rec is not within allow, or "" when it is. The
// record's targets are compared with each output's configured path and
// with the path Commit would record for it now (trusted symlinks resolved
// by the same walker), so no untrusted link can widen what matches.
func (allow Allowed) refusal(rec *record) (reason, detail string) {
	ac, ok := allow[rec.Cert]
	if !ok {
		return refusedCert, fmt.Sprintf("cert %q is not in the configuration", rec.Cert)
	}
	var resolved []string
	for _, rn := range rec.Renames {
		p := filepath.Join(rn.Dir, rn.Target)
		if ac.isOutput(p, &resolved) {
			continue
		}
		return refusedTarget, fmt.Sprintf("%s is not an output of cert %q", p, rec.Cert)
	}
	for _, in := range rec.Intents {
		if !slices.Contains(ac.Intents, in) {
			return refusedIntent, fmt.Sprintf("unit %q action %q is not configured for cert %q", in.Unit, in.Action, rec.Cert)
		}
	}
	return "", ""
}

// isOutput reports whether p is one of ac's outputs. resolved caches the
// outputs' resolved paths across the renames of one record.
func (ac AllowedCert) isOutput(p string, resolved *[]string) bool {
	for _, o := range ac.Outputs {
		if filepath.IsAbs(o.Path) && filepath.Clean(o.Path) == p {
			return true
		}
	}
	if *resolved == nil {
		*resolved = ac.resolveOutputs()
	}
	return slices.Contains(*resolved, p)
}

// resolveOutputs returns where Commit would write each output now; an
// output that cannot be resolved (its directory is gone) matches only by
// its configured path.
func (ac AllowedCert) resolveOutputs() []string {
	out := []string{}
	for _, o := range ac.Outputs {
		t, err := resolveTarget(o.Path, o.FollowSymlinks, false, 0)
		if err != nil {
			continue
		}
		out = append(out, t.path())
		t.dir.close()
	}
	return out
}

// refusedDir holds refused journal records, under journal/.
const refusedDir = "refused"

// moveAside renames the journal record name into journal/refused/,
// never over an earlier refused record, and returns its new path.
func (s *Store) moveAside(name string) (string, error) {
	jdir := s.journalPath()
	rdir := filepath.Join(jdir, refusedDir)
	if err := os.Mkdir(rdir, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("move refused journal record aside: %w", err)
	}
	d, err := openDir(jdir, false, 0)
	if err != nil {
		return "", err
	}
	defer d.close()
	rd, err := openDir(rdir, false, 0)
	if err != nil {
		return "", err
	}
	defer rd.close()
	for i := 0; i < 1000; i++ {
		dst := name
		if i > 0 {
			dst = fmt.Sprintf("%s.%d", name, i)
		}
		err := unix.Renameat2(d.fd, name, rd.fd, dst, unix.RENAME_NOREPLACE)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return "", pathErr("rename", d.join(name), err)
		}
		if err := s.syncDir(rd); err != nil {
			return "", err
		}
		return rd.join(dst), s.syncDir(d)
	}
	return "", fmt.Errorf("move refused journal record aside: %s holds too many records named %s", rdir, name)
}

// named lists the configured certs rec names: its own cert, and each cert
// one of whose outputs (by configured path) it would rename over.
func (allow Allowed) named(rec *record) []string {
	var out []string
	if _, ok := allow[rec.Cert]; ok {
		out = append(out, rec.Cert)
	}
	for name, ac := range allow {
		if name == rec.Cert {
			continue
		}
		for _, rn := range rec.Renames {
			if slices.ContainsFunc(ac.Outputs, func(o Output) bool {
				return filepath.Clean(o.Path) == filepath.Join(rn.Dir, rn.Target)
			}) {
				out = append(out, name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

package watch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxLinks bounds symlink resolution, as the kernel's ELOOP limit does.
const maxLinks = 40

// resolve returns the directory entries whose change can change what is
// seen at path, each spelled with a fully resolved (symlink-free) parent
// directory, because that is the spelling inotify reports:
//
//   - every symlink crossed on the way, in any component (certbot's
//     live/NAME/cert.pem -> ../../archive/NAME/certN.pem, or a linked
//     directory);
//   - the final target, if everything exists;
//   - otherwise the first missing component, whose parent is the nearest
//     existing ancestor: watching it is how a deleted directory is
//     noticed when it comes back.
//
// The parents of these names are the directories to watch. resolve never
// fails: whatever cannot be read is treated as missing, to be retried on
// the next event.
func resolve(path string) []string {
	path = filepath.Clean(path)
	if !filepath.IsAbs(path) {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
	}
	var names []string
	resolved := "/"
	rest := components(path)
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case ".":
			continue
		case "..":
			resolved = filepath.Dir(resolved)
			continue
		}
		cand := filepath.Join(resolved, c)
		fi, err := os.Lstat(cand)
		if err != nil {
			return append(names, cand)
		}
		if fi.Mode()&os.ModeSymlink != 0 {
			names = append(names, cand)
			links++
			target, err := os.Readlink(cand)
			if err != nil || links > maxLinks {
				return names
			}
			if filepath.IsAbs(target) {
				resolved = "/"
			}
			rest = append(components(target), rest...)
			continue
		}
		if len(rest) == 0 || !fi.IsDir() {
			// The target, or a non-directory in the way of one.
			return append(names, cand)
		}
		resolved = cand
	}
	if len(names) == 0 {
		// path was "/" or resolved to it; its "parent" is itself.
		names = append(names, resolved)
	}
	return names
}

// components splits a slash-separated path into its non-empty elements.
func components(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// resolver is resolve for many paths at once (a sync of every key): the
// files of one directory share the walk of that directory, which is
// resolved once. A final component that is a symlink, and a directory
// that does not resolve to an existing one, take the full resolve.
type resolver struct {
	dirs map[string]dirRes
}

// dirRes is a directory resolved: the links crossed on the way and the
// symlink-free directory reached (ok: it exists and is a directory).
type dirRes struct {
	links []string
	dir   string
	ok    bool
}

func (r *resolver) resolve(path string) []string {
	path = filepath.Clean(path)
	if !filepath.IsAbs(path) || path == "/" {
		return resolve(path)
	}
	if r.dirs == nil {
		r.dirs = map[string]dirRes{}
	}
	d := filepath.Dir(path)
	dr, seen := r.dirs[d]
	if !seen {
		names := resolve(d)
		last := names[len(names)-1]
		fi, err := os.Lstat(last)
		dr = dirRes{links: names[:len(names)-1], dir: last, ok: err == nil && fi.IsDir()}
		r.dirs[d] = dr
	}
	if !dr.ok {
		return resolve(path)
	}
	cand := filepath.Join(dr.dir, filepath.Base(path))
	if fi, err := os.Lstat(cand); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return resolve(path) // the links it leads through
	}
	if cand == path {
		cand = path // keep Set's string, not Join's copy of it
	}
	return append(slices.Clip(dr.links), cand)
}

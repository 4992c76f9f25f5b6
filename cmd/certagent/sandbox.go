package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/certagent/certagent/internal/trust"
)

// sandbox is the part of certagent.service's sandbox that decides where
// the daemon may write: `certagent check` runs in a shell, outside of it,
// so it can pass a config the daemon then fails to write
// (`mkdir /root/.vega: read-only file system`).
type sandbox struct {
	// source says where the settings were read, for the warning.
	source        string
	protectSystem string // no, yes, full, strict
	protectHome   string // no, yes, read-only, tmpfs
	privateTmp    bool
	readWrite     []string // ReadWritePaths= and the *Directory= paths
	readOnly      []string
	inaccessible  []string
}

// unitName is the packaged unit whose sandbox check compares against.
const unitName = "certagent.service"

// showProps are the properties `systemctl show` is asked for.
var showProps = []string{"LoadState", "ProtectSystem", "ProtectHome", "PrivateTmp", "ReadWritePaths",
	"ReadOnlyPaths", "InaccessiblePaths", "StateDirectory", "RuntimeDirectory", "CacheDirectory", "LogsDirectory"}

// unitDirs are where systemd looks for the unit and its drop-ins, lowest
// precedence first.
var unitDirs = []string{"/usr/lib/systemd/system", "/lib/systemd/system", "/run/systemd/system", "/etc/systemd/system"}

// loadSandbox reads the installed unit's sandbox: from the service
// manager (unit file and every drop-in, as it will apply them), or, when
// systemd does not run or does not know the unit, from the unit files on
// disk. nil: no unit installed, nothing to compare against.
var loadSandbox = func() *sandbox {
	if systemctl, ok := trustedProgram("systemctl"); ok {
		cmd := exec.Command(systemctl, "show", unitName, "-p", strings.Join(showProps, ","))
		cmd.Env = []string{"PATH=" + trust.HookPATH}
		if out, err := cmd.Output(); err == nil {
			if sb := sandboxFromShow(string(out)); sb != nil {
				return sb
			}
		}
	}
	return sandboxFromFiles(unitDirs)
}

// trustedProgram finds name in the hook PATH, not the caller's: check
// runs as root from any shell, whose PATH may name a directory another
// user can write. The program must follow the trust rule.
func trustedProgram(name string) (string, bool) {
	for _, dir := range filepath.SplitList(trust.HookPATH) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		return p, trust.CheckCommand([]string{p}) == nil
	}
	return "", false
}

// sandboxFromShow parses `systemctl show -p …` output; nil when the unit
// is not loaded.
func sandboxFromShow(out string) *sandbox {
	props := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			props[k] = v
		}
	}
	if props["LoadState"] != "loaded" {
		return nil
	}
	sb := &sandbox{source: "systemctl show certagent"}
	// In showProps order: ReadWritePaths= (which replaces the list) before
	// the *Directory= settings (which add to it).
	for _, k := range showProps {
		sb.set(k, props[k], false)
	}
	return sb
}

// sandboxFromFiles parses the unit file and its drop-ins under dirs (in
// precedence order), as systemd would: a drop-in of the same name in a
// later directory replaces an earlier one, and drop-ins apply in name
// order after the unit file.
func sandboxFromFiles(dirs []string) *sandbox {
	var unit string
	dropins := map[string]string{} // base name -> path
	for _, d := range dirs {
		if p := filepath.Join(d, unitName); fileExists(p) {
			unit = p
		}
		matches, _ := filepath.Glob(filepath.Join(d, unitName+".d", "*.conf"))
		for _, m := range matches {
			dropins[filepath.Base(m)] = m
		}
	}
	if unit == "" {
		return nil
	}
	names := make([]string, 0, len(dropins))
	for n := range dropins {
		names = append(names, n)
	}
	sort.Strings(names)
	sb := &sandbox{source: unit, protectSystem: "no", protectHome: "no"}
	sb.parseFile(unit)
	for _, n := range names {
		sb.parseFile(dropins[n])
		sb.source += ", " + dropins[n]
	}
	return sb
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// parseFile applies the [Service] assignments of one unit file.
func (sb *sandbox) parseFile(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			section = line
		case section == "[Service]":
			if k, v, ok := strings.Cut(line, "="); ok {
				sb.set(strings.TrimSpace(k), strings.TrimSpace(v), true)
			}
		}
	}
}

// set applies one setting. In unit files list settings accumulate and an
// empty assignment resets them; `systemctl show` gives the final list.
func (sb *sandbox) set(key, value string, accumulate bool) {
	list := func(dst *[]string, prefix string) {
		if value == "" || !accumulate {
			*dst = nil
		}
		for _, p := range strings.Fields(value) {
			p = strings.TrimLeft(p, "-+")
			if prefix != "" && !filepath.IsAbs(p) {
				p = filepath.Join(prefix, p)
			}
			*dst = append(*dst, filepath.Clean(p))
		}
	}
	switch key {
	case "ProtectSystem":
		sb.protectSystem = boolish(value)
	case "ProtectHome":
		sb.protectHome = boolish(value)
	case "PrivateTmp":
		sb.privateTmp = boolish(value) == "yes"
	case "ReadWritePaths":
		list(&sb.readWrite, "")
	case "ReadOnlyPaths":
		list(&sb.readOnly, "")
	case "InaccessiblePaths":
		list(&sb.inaccessible, "")
	case "StateDirectory":
		sb.directories(value, "/var/lib")
	case "RuntimeDirectory":
		sb.directories(value, "/run")
	case "CacheDirectory":
		sb.directories(value, "/var/cache")
	case "LogsDirectory":
		sb.directories(value, "/var/log")
	}
}

// directories adds the *Directory= paths, which systemd makes writable
// whatever ProtectSystem says.
func (sb *sandbox) directories(value, root string) {
	for _, d := range strings.Fields(value) {
		d, _, _ = strings.Cut(d, ":")
		sb.readWrite = append(sb.readWrite, filepath.Join(root, d))
	}
}

// boolish maps systemd's spellings of booleans to "yes"/"no" and keeps
// other values (strict, full, read-only, tmpfs) as they are.
func boolish(v string) string {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return "yes"
	case "", "0", "no", "false", "off":
		return "no"
	}
	return v
}

// longest returns the longest of roots that is dir or one of its parents.
func longest(dir string, roots []string) string {
	best := ""
	for _, r := range roots {
		if (dir == r || strings.HasPrefix(dir, strings.TrimSuffix(r, "/")+"/")) && len(r) > len(best) {
			best = r
		}
	}
	return best
}

var homeDirs = []string{"/home", "/root", "/run/user"}

// denies says why the daemon may not write in dir, or "" if it may.
// ReadWritePaths= opens a directory below a read-only one (the more
// specific path wins), but not one that ProtectHome=yes or tmpfs hides:
// the fix for those is ProtectHome=read-only plus ReadWritePaths=.
func (sb *sandbox) denies(dir string) string {
	if r := longest(dir, sb.inaccessible); r != "" {
		return "InaccessiblePaths=" + r
	}
	if longest(dir, homeDirs) != "" && (sb.protectHome == "yes" || sb.protectHome == "tmpfs") {
		return "ProtectHome=" + sb.protectHome
	}
	rw, ro := longest(dir, sb.readWrite), longest(dir, sb.readOnly)
	if ro != "" && len(ro) >= len(rw) {
		return "ReadOnlyPaths=" + ro
	}
	if rw != "" {
		return ""
	}
	if longest(dir, homeDirs) != "" && sb.protectHome == "read-only" {
		return "ProtectHome=read-only"
	}
	if sb.privateTmp && longest(dir, []string{"/tmp", "/var/tmp"}) != "" {
		return "PrivateTmp=yes (its /tmp is its own: other services do not see the files)"
	}
	readOnly := map[string][]string{
		"yes":  {"/usr", "/boot", "/efi"},
		"full": {"/usr", "/boot", "/efi", "/etc"},
	}[sb.protectSystem]
	if sb.protectSystem == "strict" {
		if longest(dir, []string{"/dev", "/proc", "/sys"}) == "" {
			return "ProtectSystem=strict"
		}
		return ""
	}
	if r := longest(dir, readOnly); r != "" {
		return "ProtectSystem=" + sb.protectSystem
	}
	return ""
}

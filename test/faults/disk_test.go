package faults

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

const oneCert = `[agent]
state_dir = "{{state}}"

[issuers.ca]
type = "local"
key_type = "ec256"

[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
key_type = "ec256"
cert_file = "{{out}}/web/cert.pem"
key_file = "{{out}}/web/key.pem"
fullchain_file = "{{out}}/web/fullchain.pem"
ca_file = "{{out}}/web/ca.pem"
`

func webSpec(e *env) certSpec {
	return certSpec{name: "web", cert: e.path("web/cert.pem"), key: e.path("web/key.pem"),
		fullchain: e.path("web/fullchain.pem"), caFile: e.path("web/ca.pem"), keyMode: 0o600, certMode: 0o600, uid: -1, gid: -1}
}

// diskFault is one renewal under a broken disk: the forced renew must
// fail with an ERROR naming path and errno, leave the old set
// byte-identical and no temp or staging file, and succeed once fixed.
type diskFault struct {
	name string
	// onTmpfs lists what gets its own tmpfs: "out" and/or "state".
	onTmpfs []string
	size    string
	break_  func(t *testing.T, e *env)
	fix     func(t *testing.T, e *env)
	// want are substrings of the ERROR line (path and errno text).
	want func(e *env) []string
}

func TestDiskFaults(t *testing.T) {
	needRoot(t)
	cases := []diskFault{{
		name: "output tmpfs fills up mid-write", onTmpfs: []string{"out"}, size: "64k",
		break_: func(t *testing.T, e *env) { fillLeaving(t, e.out, 1) },
		fix:    func(t *testing.T, e *env) { removeFillers(t, e.out) },
		want:   func(e *env) []string { return []string{e.path("web/"), "no space left on device"} },
	}, {
		name: "output dir read-only", onTmpfs: []string{"out"}, size: "1m",
		break_: func(t *testing.T, e *env) { remount(t, e.out, "ro") },
		fix:    func(t *testing.T, e *env) { remount(t, e.out, "rw") },
		want:   func(e *env) []string { return []string{e.path("web/"), "read-only file system"} },
	}, {
		name: "output dir immutable (chattr +i)", size: "",
		break_: func(t *testing.T, e *env) { chattr(t, "+i", e.path("web")) },
		fix:    func(t *testing.T, e *env) { chattr(t, "-i", e.path("web")) },
		want:   func(e *env) []string { return []string{e.path("web/"), "operation not permitted"} },
	}, {
		name: "state dir read-only", onTmpfs: []string{"state"}, size: "4m",
		break_: func(t *testing.T, e *env) { remount(t, e.state, "ro") },
		fix:    func(t *testing.T, e *env) { remount(t, e.state, "rw") },
		want:   func(e *env) []string { return []string{e.state, "read-only file system"} },
	}}
	var passed []string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			for _, m := range c.onTmpfs {
				dir := e.out
				if m == "state" {
					dir = e.state
				}
				mountTmpfs(t, dir, c.size)
			}
			e.write(t, oneCert)
			if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
				t.Fatalf("initial renew: %s", r)
			}
			spec := webSpec(e)
			if err := checkSet(spec); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, e.path("web"))
			c.break_(t, e)
			fixed := false
			defer func() {
				if !fixed {
					c.fix(t, e)
				}
			}()
			r := certagent(t, "renew", "--force", "--config", e.config)
			noPanic(t, "renew", r.stderr)
			if r.code != 1 {
				t.Errorf("renew on a broken disk: want exit 1, got %s", r)
			}
			errLine := ""
			for _, l := range logEntries(r.stderr) {
				if (strings.Contains(l, "[ERROR]") || strings.HasPrefix(l, "certagent: ")) && containsAll(l, c.want(e)) {
					errLine = l
					break
				}
			}
			if strings.Contains(r.stderr, "cannot delete temp files") {
				t.Errorf("a cleanup error was reported for temps that do not exist:\n%s", r.stderr)
			}
			if recs, _ := filepath.Glob(filepath.Join(e.state, "journal", "commit-*")); len(recs) > 0 {
				t.Errorf("journal records left after a failed write that replaced nothing: %v", recs)
			}
			if errLine == "" {
				t.Errorf("no ERROR line naming %q:\n%s", c.want(e), r.stderr)
			}
			c.fix(t, e)
			fixed = true
			if d := diffSnapshot(before, snapshot(t, e.path("web"))); len(d) > 0 {
				t.Errorf("old set changed by the failed renewal: %v", d)
			}
			if tmps := tempFiles(e.out); len(tmps) > 0 {
				t.Errorf("temp files left: %v", tmps)
			}
			if left := stagingLeft(e.state); len(left) > 0 {
				t.Errorf("staging left: %v", left)
			}
			oldSerial := pemLine2(spec.cert)
			r = certagent(t, "renew", "--force", "--config", e.config)
			if r.code != 0 {
				t.Fatalf("renew after the fix: %s", r)
			}
			if err := checkSet(spec); err != nil {
				t.Fatal(err)
			}
			if pemLine2(spec.cert) == oldSerial {
				t.Error("cert not renewed after the fix")
			}
			if !t.Failed() {
				passed = append(passed, fmt.Sprintf("%s [%s]", c.name, errnoText(shortErr(errLine))))
			}
		})
	}
	figure(t, "disk: %d/%d faults kept the old set byte-identical, logged an ERROR naming path and errno, left 0 temp files and recovered once fixed: %s",
		len(passed), len(cases), strings.Join(passed, "; "))
}

// fillLeaving fills the filesystem of dir until only pages 4 KiB pages
// are free.
func fillLeaving(t *testing.T, dir string, pages int) {
	t.Helper()
	for i := 0; ; i++ {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("filler-%d", i)))
		if err != nil {
			break
		}
		_, werr := f.Write(make([]byte, 4096))
		f.Close()
		if werr != nil {
			os.Remove(f.Name())
			break
		}
	}
	for i := 0; i < pages; i++ {
		if err := os.Remove(filepath.Join(dir, fmt.Sprintf("filler-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	t.Logf("filled %s: %d blocks free", dir, st.Bfree)
}

func removeFillers(t *testing.T, dir string) {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(dir, "filler-*"))
	for _, m := range ms {
		if err := os.Remove(m); err != nil {
			t.Fatal(err)
		}
	}
}

func chattr(t *testing.T, flag, path string) {
	t.Helper()
	r := runTool(t, "chattr", flag, path)
	if r != nil {
		t.Skipf("chattr %s unsupported here: %v", flag, r)
	}
}

func containsAll(s string, subs []string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// logEntries splits hclog text output into entries, joining the
// indented continuation lines of multi-line values.
func logEntries(out string) []string {
	var es []string
	for _, l := range strings.Split(out, "\n") {
		if len(es) > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) {
			es[len(es)-1] += " " + strings.TrimSpace(l)
			continue
		}
		es = append(es, l)
	}
	return es
}

// shortErr keeps the error= part of an hclog line for the figure.
func shortErr(line string) string {
	if v := logField(line, "error"); v != "" {
		return v
	}
	return line
}

// errnoText is the last ": "-separated part of an error, its errno text.
func errnoText(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

var errNoTool = errors.New("tool not installed")

package faults

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// badCase is one bad configuration: its files (relative to a fresh case
// directory; certagent.toml is the main file), setup steps, and the
// substrings every run's stderr must contain.
type badCase struct {
	name  string
	files map[string][]byte
	setup []string
	want  []string
	root  bool // needs root (chown)
}

// loadSharedCorpus reads agent/config/testdata/bad: each file is a main
// config whose "# want: " lines are the exact messages `certagent check`
// prints, with the corpus path in place of the file name.
func loadSharedCorpus(t *testing.T) []badCase {
	t.Helper()
	files, err := filepath.Glob("../../agent/config/testdata/bad/*.toml")
	if err != nil {
		t.Fatal(err)
	}
	var out []badCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(f)
		c := badCase{name: "shared/" + base, files: map[string][]byte{"certagent.toml": data}}
		for _, l := range strings.Split(string(data), "\n") {
			w, ok := strings.CutPrefix(l, "# want: ")
			if !ok {
				break
			}
			c.want = append(c.want, strings.ReplaceAll(w, "testdata/bad/"+base, "{{dir}}/certagent.toml"))
		}
		out = append(out, c)
	}
	return out
}

// loadOwnCorpus reads testdata/badconfig/*.txt: a header of "# want: "
// and "# setup: " lines, then files introduced by "-- NAME --" lines.
// Cases here need what an in-memory parse cannot show: drop-ins, file
// modes and owners, sizes, FIFOs, symlinks.
func loadOwnCorpus(t *testing.T) []badCase {
	t.Helper()
	files, err := filepath.Glob("testdata/badconfig/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out []badCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := badCase{name: strings.TrimSuffix(filepath.Base(f), ".txt"), files: map[string][]byte{}}
		cur := ""
		for _, l := range strings.SplitAfter(string(data), "\n") {
			line := strings.TrimRight(l, "\n")
			switch {
			case strings.HasPrefix(line, "-- ") && strings.HasSuffix(line, " --"):
				cur = strings.TrimSuffix(strings.TrimPrefix(line, "-- "), " --")
				c.files[cur] = []byte{}
			case cur != "":
				c.files[cur] = append(c.files[cur], l...)
			case strings.HasPrefix(line, "# want: "):
				c.want = append(c.want, strings.TrimPrefix(line, "# want: "))
			case strings.HasPrefix(line, "# setup: "):
				s := strings.TrimPrefix(line, "# setup: ")
				c.setup = append(c.setup, s)
				if strings.HasPrefix(s, "chown ") {
					c.root = true
				}
			}
		}
		if len(c.want) == 0 || c.files["certagent.toml"] == nil && !hasSetup(c, "rm certagent.toml") {
			t.Fatalf("%s: needs # want: lines and a certagent.toml", f)
		}
		out = append(out, c)
	}
	return out
}

func hasSetup(c badCase, s string) bool {
	for _, x := range c.setup {
		if x == s {
			return true
		}
	}
	return false
}

// materialize writes c's files into dir (plus a valid hook.sh and secret
// file that cases may reference and then break) and runs its setup.
func (c badCase) materialize(t *testing.T, dir string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "hook.sh"), []byte("#!/bin/sh\nexit 0\n"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "secret"), []byte("CLOUDFLARE_DNS_API_TOKEN=corpus-token-not-a-secret\n"), 0o600))
	for name, data := range c.files {
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, bytes.ReplaceAll(data, []byte("{{dir}}"), []byte(dir)), 0o600))
	}
	for _, s := range c.setup {
		f := strings.Fields(s)
		p := func(i int) string { return filepath.Join(dir, f[i]) }
		switch f[0] {
		case "chmod":
			m, err := strconv.ParseUint(f[1], 8, 32)
			must(err)
			must(os.Chmod(p(2), os.FileMode(m)))
		case "chown":
			u, err := user.Lookup(f[1])
			must(err)
			uid, _ := strconv.Atoi(u.Uid)
			must(os.Lchown(p(2), uid, -1))
		case "fifo":
			must(syscall.Mkfifo(p(1), 0o600))
		case "mkdir":
			must(os.MkdirAll(p(1), 0o755))
		case "rm":
			must(os.Remove(p(1)))
		case "symlink":
			must(os.Symlink(strings.ReplaceAll(f[1], "{{dir}}", dir), p(2)))
		case "pad":
			n, err := strconv.Atoi(f[2])
			must(err)
			fh, err := os.OpenFile(p(1), os.O_WRONLY|os.O_APPEND, 0)
			must(err)
			line := "# " + strings.Repeat("x", 1021) + "\n"
			fi, _ := fh.Stat()
			for sz := int(fi.Size()); sz < n; sz += len(line) {
				_, err = fh.WriteString(line)
				must(err)
			}
			must(fh.Close())
		default:
			t.Fatalf("%s: unknown setup %q", c.name, s)
		}
	}
}

func allBadCases(t *testing.T) []badCase {
	return append(loadSharedCorpus(t), loadOwnCorpus(t)...)
}

// runBounded runs the release binary with a short timeout: a config
// that makes certagent hang is a failure, not a stuck suite.
func runBounded(t *testing.T, within time.Duration, args ...string) (result, bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), noBus)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	collectLog(r.stdout, r.stderr)
	if ctx.Err() != nil {
		return r, false
	}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r, true
}

var fileLineRe = regexp.MustCompile(`/certagent\.toml:\d+: |/conf\.d/[^:]+\.toml:\d+: `)

// TestBadConfigCorpusThroughBinary runs every bad config through the
// real `certagent check`, `renew` and `run`: each must exit 2 within 10 s,
// print the expected message (file, line where TOML has one, key, fix),
// never panic, and touch no file.
func TestBadConfigCorpusThroughBinary(t *testing.T) {
	cases := allBadCases(t)
	if len(cases) < 60 {
		t.Fatalf("corpus has %d cases, want at least 60", len(cases))
	}
	_, defaultStateErr := os.Stat("/var/lib/certagent")
	var ok, withLine, runs int
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() != 0 {
				needRoot(t)
			}
			dir := t.TempDir()
			c.materialize(t, dir)
			before := snapshot(t, dir)
			cfg := filepath.Join(dir, "certagent.toml")
			for _, args := range [][]string{{"check"}, {"renew", "--force"}, {"run"}} {
				runs++
				r, done := runBounded(t, 10*time.Second, append(args, "--config", cfg)...)
				what := "certagent " + strings.Join(args, " ")
				if !done {
					t.Errorf("%s hung for 10 s on this config (killed)\n%s", what, r.stderr)
					break // the other commands read it the same way
				}
				noPanic(t, what, r.stdout+r.stderr)
				if r.code != 2 {
					t.Errorf("%s: want exit 2, got %s", what, r)
				}
				if r.code == 0 {
					break // accepted: renew and run would act on it
				}
				for _, w := range c.want {
					if w = strings.ReplaceAll(w, "{{dir}}", dir); !strings.Contains(r.stderr, w) {
						t.Errorf("%s: stderr lacks %q:\n%s", what, w, r.stderr)
					}
				}
			}
			if d := diffSnapshot(before, snapshot(t, dir)); len(d) > 0 {
				t.Errorf("a rejected config touched files: %v", d)
			}
			if _, err := os.Stat("/var/lib/certagent"); os.IsNotExist(defaultStateErr) && err == nil {
				t.Errorf("a rejected config created /var/lib/certagent")
			}
			if !t.Failed() {
				ok++
				if fileLineRe.MatchString(strings.ReplaceAll(strings.Join(c.want, "\n"), "{{dir}}", dir)) {
					withLine++
				}
			}
		})
	}
	figure(t, "badconfig: %d/%d bad configs rejected by check, renew and run (%d runs) with exit 2, the expected message (%d with file:line), no panic, no file touched",
		ok, len(cases), runs, withLine)
}

// TestBadConfigOnSIGHUP feeds a sample of the corpus to a running daemon
// by SIGHUP: each is rejected (event=config_rejected), the daemon stays
// up on its old config, and a good config afterwards is taken.
func TestBadConfigOnSIGHUP(t *testing.T) {
	all := allBadCases(t)
	var sample []badCase
	for i, c := range all {
		if (i%7 == 0 || strings.Contains(c.name, "writable") || strings.Contains(c.name, "dropin")) && (!c.root || os.Geteuid() == 0) {
			sample = append(sample, c)
		}
	}
	// Cases that can wedge a reader go last, so they cannot hide the rest.
	sort.SliceStable(sample, func(i, j int) bool {
		return !strings.Contains(sample[i].name, "fifo") && strings.Contains(sample[j].name, "fifo")
	})
	e := newEnv(t)
	good := oneCert
	e.write(t, good)
	d := startDaemon(t, e)
	d.await(1, 30*time.Second, "event=issued", "cert=web")
	serial := pemLine2(e.path("web/cert.pem"))
	rejected := 0
	for _, c := range sample {
		rej, rel := d.count("event=config_rejected"), d.count("event=config_reloaded")
		// The case's files go into the daemon's config dir.
		_ = os.RemoveAll(filepath.Join(e.dir, "conf.d"))
		c.materialize(t, e.dir)
		d.signal(syscall.SIGHUP)
		eventually(t, 20*time.Second, "the reload of "+c.name, func() bool {
			return d.count("event=config_rejected") > rej || d.count("event=config_reloaded") > rel
		})
		if !d.alive() {
			t.Fatalf("daemon died on the bad config %s", c.name)
		}
		// Back to the good config, owned and moded right.
		_ = os.RemoveAll(filepath.Join(e.dir, "conf.d"))
		_ = os.Remove(e.config)
		e.write(t, good)
		if d.count("event=config_reloaded") > rel {
			t.Errorf("a running daemon loaded the bad config %s", c.name)
			d.signal(syscall.SIGHUP) // back to the good one
			d.await(rel+2, 20*time.Second, "event=config_reloaded")
			continue
		}
		rejected++
	}
	reloads := d.count("event=config_reloaded")
	d.signal(syscall.SIGHUP)
	d.await(reloads+1, 20*time.Second, "event=config_reloaded")
	if err := checkSet(webSpec(e)); err != nil {
		t.Error(err)
	}
	if got := pemLine2(e.path("web/cert.pem")); got != serial {
		t.Error("the cert was re-issued while bad configs were rejected")
	}
	noPanic(t, "daemon", d.text())
	figure(t, "sighup: %d/%d bad configs rejected by a running daemon (event=config_rejected), daemon up on the old config, good config reloaded after", rejected, len(sample))
}

func init() { _ = fmt.Sprint }

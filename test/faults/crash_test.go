package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashCerts is how many certs the crash test manages.
const crashCerts = 20

// crashUnits gives cert i its units: some certs share a unit, some have
// two, some none.
func crashUnits(i int) []string {
	switch i % 4 {
	case 0:
		return []string{"svc-a.service"}
	case 1:
		return []string{"svc-a.service", "svc-b.service"}
	case 2:
		return []string{"svc-b.service"}
	}
	return nil
}

// crashEnv writes a config of 20 local-CA certs, each with an exec hook
// that appends "NAME <2nd line of cert.pem>" to a log, and returns the specs.
func crashEnv(t *testing.T) (*env, []certSpec, string) {
	e := newEnv(t)
	if os.Geteuid() == 0 {
		// SIGKILL does not lose the page cache, so fsync plays no part in
		// a process crash; a tmpfs makes 200 iterations fit in a minute.
		mountTmpfs(t, e.dir, "64m")
	}
	hookLog := filepath.Join(e.dir, "hooks.log")
	hook := filepath.Join(e.dir, "hook.sh")
	// Shell builtins only (fast): the 2nd PEM line holds the serial, so
	// it identifies the cert the hook saw.
	script := "#!/bin/sh\n{ read -r a; read -r b; } < \"$CERTAGENT_CERT_FILE\"\necho \"$CERTAGENT_CERT_NAME $b\" >> " + hookLog + "\n"
	if err := os.WriteFile(hook, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	var b strings.Builder
	b.WriteString("[agent]\nstate_dir = \"{{state}}\"\nlog_level = \"info\"\n\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n")
	var specs []certSpec
	for i := 0; i < crashCerts; i++ {
		name := fmt.Sprintf("c%02d", i)
		dir := filepath.Join(e.out, name)
		s := certSpec{name: name, cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem"),
			fullchain: filepath.Join(dir, "fullchain.pem"), caFile: filepath.Join(dir, "ca.pem"),
			keyMode: 0o600, certMode: 0o600, uid: 0, gid: 0}
		if !root {
			s.uid, s.gid = -1, -1
		}
		fmt.Fprintf(&b, "\n[certs.%s]\nissuer = \"ca\"\ndns_names = [\"%s.example.com\"]\nkey_type = \"ec256\"\nvalidity = \"30d\"\n", name, name)
		fmt.Fprintf(&b, "cert_file = %q\nkey_file = %q\nfullchain_file = %q\nca_file = %q\n", s.cert, s.key, s.fullchain, s.caFile)
		fmt.Fprintf(&b, "exec = [%q]\n", hook)
		if u := crashUnits(i); len(u) > 0 {
			fmt.Fprintf(&b, "units = [\"%s\"]\naction = \"restart\"\n", strings.Join(u, "\", \""))
		}
		if i%2 == 0 {
			b.WriteString("mode = \"0400\"\ncert_mode = \"0644\"\n")
			s.keyMode, s.certMode = 0o400, 0o644
		}
		if root && i%3 == 0 {
			b.WriteString("owner = \"nobody\"\ngroup = \"nogroup\"\n")
			s.uid, s.gid = 65534, 65534
		}
		specs = append(specs, s)
	}
	e.write(t, b.String())
	return e, specs, hookLog
}

// pendingIntents reads state/journal/intents.json.
func pendingIntents(t *testing.T, state string) []struct{ Unit, Action, Cert string } {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "journal", "intents.json"))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Intents []struct{ Unit, Action, Cert string } `json:"intents"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("intents.json: %v\n%s", err, b)
	}
	return f.Intents
}

// TestCrashInjectionAtScale SIGKILLs forced renewals of 20 certs at
// random instants and at the named failpoints, then runs one normal
// `certagent renew` (recovery + a pass) and checks every set, staging,
// temps, and that every cert whose files changed got its hook and had
// its unit actions recorded.
func TestCrashInjectionAtScale(t *testing.T) {
	iterations := 240 // about 200 of them land a kill
	if v, err := strconv.Atoi(os.Getenv("CERTAGENT_CRASH_ITERATIONS")); err == nil && v > 0 {
		iterations = v
	}
	if testing.Short() {
		iterations = 20
	}
	e, specs, hookLog := crashEnv(t)
	start := time.Now()
	if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
		t.Fatalf("initial renew: %s", r)
	}
	firstRun := time.Since(start)
	resetIntents(t, e.state)
	// A forced pass without the CA setup; kills land uniformly inside it.
	start = time.Now()
	if r := certagent(t, "renew", "--force", "--config", e.config); r.code != 0 {
		t.Fatalf("forced renew: %s", r)
	}
	window := time.Since(start)
	resetIntents(t, e.state)
	t.Logf("first renew %s, forced renew %s", firstRun.Round(time.Millisecond), window.Round(time.Millisecond))

	points := []string{"store-after-first-rename", "agent-before-actions", "store-after-temps",
		"store-after-journal", "store-after-renames", "agent-after-commit"}
	rng := rand.New(rand.NewPCG(7, uint64(time.Now().UnixNano())))
	var kills, fpKills, torn, leftovers, recovered int
	var hooksWant, hooksGot, unitsWant, unitsGot int
	for i := 0; i < iterations; i++ {
		before := map[string]string{}
		for _, s := range specs {
			before[s.name] = fileHash(s.cert)
		}
		hooksBefore := readLines(hookLog)

		cmd := exec.Command(failpointBin, "renew", "--force", "--config", e.config)
		cmd.Env = append(os.Environ(), noBus)
		atPoint := i%3 == 0
		if atPoint {
			p := points[(i/3)%len(points)]
			n := 1
			if strings.HasPrefix(p, "store-") || p == "agent-after-commit" {
				n = 1 + rng.IntN(crashCerts) // the n-th cert of the pass
			}
			cmd.Env = append(cmd.Env, fmt.Sprintf("CERTAGENT_FAILPOINT=%s=%d", p, n))
		}
		var errb strings.Builder
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if !atPoint {
			time.Sleep(time.Duration(rng.Int64N(int64(window))))
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		_ = cmd.Wait()
		collectLog(errb.String())
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			kills++
			if atPoint {
				fpKills++
			}
		} else if atPoint {
			t.Errorf("iteration %d: failpoint did not fire: %s\n%s", i, cmd.Env[len(cmd.Env)-1], errb.String())
		}

		// The next start: recovery plus one normal pass.
		r := certagent(t, "renew", "--config", e.config)
		if r.code != 0 {
			t.Errorf("iteration %d: renew after the kill: %s", i, r)
		}
		if strings.Contains(r.stderr, "recovered from an interrupted run") {
			recovered++
		}
		for _, s := range specs {
			if err := checkSet(s); err != nil {
				torn++
				t.Errorf("iteration %d: %s: %v", i, s.name, err)
			}
		}
		if left := stagingLeft(e.state); len(left) > 0 {
			leftovers += len(left)
			t.Errorf("iteration %d: staging leftovers: %v", i, left)
		}
		if tmps := tempFiles(e.out); len(tmps) > 0 {
			leftovers += len(tmps)
			t.Errorf("iteration %d: temp files left: %v", i, tmps)
		}
		// Every change got its hook (with the final content), and each of
		// its unit actions was attempted and, there being no bus, kept
		// pending in the journal (the systemd suite delivers them).
		hooks := readLines(hookLog)[len(hooksBefore):]
		attempts := unitAttempts(errb.String() + "\n" + r.stderr)
		pending := pendingIntents(t, e.state)
		for j, s := range specs {
			if fileHash(s.cert) == before[s.name] {
				continue
			}
			hooksWant++
			if contains(hooks, s.name+" "+pemLine2(s.cert)) {
				hooksGot++
			} else {
				t.Errorf("iteration %d: %s changed but its hook did not run for the new cert (hook lines: %v)", i, s.name, hooks)
			}
			for _, u := range crashUnits(j) {
				unitsWant++
				if !hasIntent(pending, u, s.name) {
					t.Errorf("iteration %d: %s changed but no pending %s action is recorded: %v", i, s.name, u, pending)
				} else if attempts[u+" "+s.name] {
					unitsGot++
				} else {
					t.Errorf("iteration %d: %s changed but %s was never acted on:\n%s\n%s", i, s.name, u, errb.String(), r.stderr)
				}
			}
		}
		resetIntents(t, e.state)
		if t.Failed() && i > 5 {
			break
		}
	}
	figure(t, "crash: %d kills (%d at failpoints, %d at random instants), %d torn pairs, %d staging leftovers, %d/%d actions delivered (exec hooks), %d/%d unit actions attempted and kept pending (no D-Bus here), %d recoveries",
		kills, fpKills, kills-fpKills, torn, leftovers, hooksGot, hooksWant, unitsGot, unitsWant, recovered)
	if kills < iterations/2 {
		t.Errorf("only %d of %d iterations killed the process; the kill window (%s) is off", kills, iterations, window)
	}
}

// resetIntents stands in for the service manager delivering the pending
// unit actions, so each iteration checks only its own changes. Only
// called while no certagent runs.
func resetIntents(t *testing.T, state string) {
	t.Helper()
	p := filepath.Join(state, "journal", "intents.json")
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// unitLine matches the agent's log line for one unit action attempt.
var unitLine = regexp.MustCompile(`(unit failed after action|unit action stays pending|unit action done|left alone)[^\n]*`)

// unitAttempts returns "UNIT CERT" for every unit action attempted in log.
func unitAttempts(log string) map[string]bool {
	out := map[string]bool{}
	for _, l := range unitLine.FindAllString(log, -1) {
		u := logField(l, "unit")
		// One line per unit (certs=a,b) or per cert (cert=a).
		for _, c := range strings.Split(logField(l, "certs")+","+logField(l, "cert"), ",") {
			out[u+" "+c] = true
		}
	}
	return out
}

// logField extracts key=value (value optionally quoted) from an hclog
// text line.
func logField(line, key string) string {
	m := regexp.MustCompile(`\b` + key + `=("([^"]*)"|[^ ]*)`).FindStringSubmatch(line)
	if m == nil {
		return ""
	}
	if m[2] != "" {
		return m[2]
	}
	return m[1]
}

func hasIntent(in []struct{ Unit, Action, Cert string }, unit, cert string) bool {
	for _, x := range in {
		if x.Unit == unit && x.Cert == cert && x.Action == "restart" {
			return true
		}
	}
	return false
}

func pemLine2(p string) string {
	if l := readLines(p); len(l) > 1 {
		return l[1]
	}
	return ""
}

func readLines(p string) []string {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

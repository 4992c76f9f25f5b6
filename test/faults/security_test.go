package faults

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const nobody = 65534

// TestPlantedSymlinkNeverWrittenThrough plants a symlink at the key path
// and, as a non-root owner of the output dir would, a symlink in place
// of the cert's directory: renew refuses both, names the path, and the
// files they point to stay untouched.
func TestPlantedSymlinkNeverWrittenThrough(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.write(t, oneCert)
	if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
		t.Fatalf("initial renew: %s", r)
	}
	victim := filepath.Join(e.dir, "victim")
	writeFile(t, victim, []byte("precious\n"))
	key := e.path("web/key.pem")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, key); err != nil {
		t.Fatal(err)
	}
	r := certagent(t, "renew", "--force", "--config", e.config)
	if r.code != 1 || !strings.Contains(r.stderr, "refusing to write "+key+": it is a symlink") {
		t.Errorf("renew through a planted key symlink: want exit 1 and a refusal naming %s, got %s", key, r)
	}
	if b, _ := os.ReadFile(victim); string(b) != "precious\n" {
		t.Errorf("victim file written through the symlink: %q", b)
	}
	if fi, err := os.Lstat(key); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the planted symlink was replaced or removed (%v): the operator should see it", err)
	}

	// The directory: out is owned by a service user, who swaps web/ for
	// a symlink to a directory of root's.
	e2 := newEnv(t)
	e2.write(t, oneCert)
	if err := os.MkdirAll(e2.out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(e2.out, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	victimDir := filepath.Join(e2.dir, "etc-ssl")
	if err := os.Mkdir(victimDir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := e2.path("web")
	if err := os.Symlink(victimDir, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(link, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	r = certagent(t, "renew", "--config", e2.config)
	if r.code != 1 || !strings.Contains(r.stderr, "refusing to follow symlink "+link) {
		t.Errorf("renew through a directory symlink planted by uid %d: want exit 1 naming %s, got %s", nobody, link, r)
	}
	if ents, _ := os.ReadDir(victimDir); len(ents) > 0 {
		t.Errorf("files written through the planted directory symlink: %v", ents)
	}
	figure(t, "symlink: planted key symlink and planted directory symlink refused with a message naming the path; 0 bytes written through them")
}

// TestSymlinkSwapRace swaps the cert's output directory for a symlink
// (owned by the unprivileged owner of its parent) and back, as fast as
// it can, while forced renewals run: nothing may ever land in the
// directory the symlink points to.
func TestSymlinkSwapRace(t *testing.T) {
	needRoot(t)
	e := newEnv(t)
	e.write(t, oneCert)
	if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
		t.Fatalf("initial renew: %s", r)
	}
	if err := os.Chown(e.out, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	victimDir := filepath.Join(e.dir, "etc-ssl")
	if err := os.Mkdir(victimDir, 0o755); err != nil {
		t.Fatal(err)
	}
	real, aside, link := e.path("web"), e.path("web.real"), e.path("web")
	ctx, cancel := context.WithCancel(context.Background())
	var swaps atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if os.Rename(real, aside) != nil {
				continue
			}
			if os.Symlink(victimDir, link) == nil {
				_ = os.Lchown(link, nobody, nobody)
				time.Sleep(time.Duration(swaps.Load()%3) * time.Millisecond)
				_ = os.Remove(link)
			}
			_ = os.Rename(aside, real)
			swaps.Add(1)
			time.Sleep(time.Duration(swaps.Load()%2) * time.Millisecond)
		}
	}()
	var ok, refused int
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; i < 60 && time.Now().Before(deadline); i++ {
		r := certagent(t, "renew", "--force", "--config", e.config)
		noPanic(t, "renew", r.stderr)
		if r.code == 0 {
			ok++
		} else {
			refused++
		}
		if ents, _ := os.ReadDir(victimDir); len(ents) > 0 {
			t.Errorf("renewal %d wrote into the symlink's target: %v", i, ents)
			break
		}
	}
	cancel()
	<-done
	if fi, err := os.Lstat(real); err != nil || !fi.IsDir() {
		t.Fatalf("web is not back in place: %v", err)
	}
	if ents, _ := os.ReadDir(victimDir); len(ents) > 0 {
		t.Errorf("files in the symlink's target: %v", ents)
	}
	if r := certagent(t, "renew", "--force", "--config", e.config); r.code != 0 {
		t.Errorf("renew after the race: %s", r)
	}
	if err := checkSet(webSpec(e)); err != nil {
		t.Error(err)
	}
	if tmps := tempFiles(e.dir); len(tmps) > 0 {
		t.Errorf("temp files left: %v", tmps)
	}
	figure(t, "toctou: %d directory/symlink swaps during %d forced renewals (%d completed, %d refused or failed): 0 files written through the symlink, pair consistent after",
		swaps.Load(), ok+refused, ok, refused)
}

// TestCoreDumpsDisabled reads the running daemon's limits.
func TestCoreDumpsDisabled(t *testing.T) {
	e := newEnv(t)
	e.write(t, oneCert)
	d := startDaemon(t, e)
	d.await(1, 20*time.Second, "event=issued")
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", d.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "Max core file size") {
			line = l
		}
	}
	f := strings.Fields(strings.TrimPrefix(line, "Max core file size"))
	if len(f) < 2 || f[0] != "0" || f[1] != "0" {
		t.Errorf("daemon core limit is not 0/0: %q", line)
	}
	figure(t, "coredump: daemon %q", strings.Join(strings.Fields(line), " "))
}

// TestUnitActionsStayPendingWithoutBus: with no system bus at all, a
// renewed cert keeps its new files, its unit action is recorded as
// pending (to be delivered when the bus is back), and rollback is not
// triggered. agent.Restarter's contract says an unreachable service
// manager is reported as agent.ErrUnavailable.
func TestUnitActionsStayPendingWithoutBus(t *testing.T) {
	e := newEnv(t)
	e.write(t, oneCert+"units = [\"web.service\"]\naction = \"reload\"\nrollback = true\n")
	if r := certagent(t, "renew", "--config", e.config); r.code != 0 {
		t.Errorf("first issuance without a bus: %s", r)
	}
	resetIntents(t, e.state)
	old := pemLine2(e.path("web/cert.pem"))
	r := certagent(t, "renew", "--force", "--config", e.config)
	if r.code != 0 {
		t.Errorf("renew without a bus: want exit 0 (files renewed, action pending), got %s", r)
	}
	if pemLine2(e.path("web/cert.pem")) == old {
		t.Errorf("the renewed cert was rolled back because the bus is down:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "event=rollback") || strings.Contains(r.stderr, "event=unit_failed") {
		t.Errorf("a missing bus was treated as a failed unit:\n%s", r.stderr)
	}
	if !hasIntentAction(pendingIntents(t, e.state), "web.service", "web", "reload") {
		t.Errorf("no pending reload of web.service recorded: %v\n%s", pendingIntents(t, e.state), r.stderr)
	}
}

func hasIntentAction(in []struct{ Unit, Action, Cert string }, unit, cert, action string) bool {
	for _, x := range in {
		if x.Unit == unit && x.Cert == cert && x.Action == action {
			return true
		}
	}
	return false
}

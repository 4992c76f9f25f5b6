package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// stagingFreeIssuer is the fake CA declared StagingFree; it records the
// staging dir each request named and whether one existed meanwhile.
type stagingFreeIssuer struct {
	*fakeIssuer
	state string
	mu    sync.Mutex
	dirs  []string
	made  bool
}

func (s *stagingFreeIssuer) NoStaging() {}

func (s *stagingFreeIssuer) Issue(ctx context.Context, req Request) (*Bundle, error) {
	s.mu.Lock()
	s.dirs = append(s.dirs, req.StagingDir)
	if ents, _ := os.ReadDir(filepath.Join(s.state, "staging")); len(ents) > 0 {
		s.made = true
	}
	s.mu.Unlock()
	req.StagingDir = s.state // the fake checks for a 0700 directory
	return s.fakeIssuer.Issue(ctx, req)
}

// A StagingFree issuer gets no staging directory: none is created (and
// deleted) per cert. Other issuers still get theirs (fakeIssuer checks).
func TestStagingFreeIssuerGetsNoStagingDir(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	iss := &stagingFreeIssuer{fakeIssuer: ta.iss, state: ta.cfg.Agent.StateDir}
	ta.issuers["ca"] = iss
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	if len(iss.dirs) != 4 || slices.ContainsFunc(iss.dirs, func(d string) bool { return d != "" }) || iss.made {
		t.Fatalf("staging dirs %q (created: %v), want 4 requests with none", iss.dirs, iss.made)
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if _, err := os.Stat(filepath.Join(ta.dir, "out", n+".pem")); err != nil {
			t.Fatal(err)
		}
	}
}

// The group commit writes every queued set, passes issuance failures
// through, and returns one outcome per cert.
func TestGroupCommitWritesQueuedSets(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	g := startGroupCommit(ta.st, nil)
	want := []string{"a", "b", "c"}
	queueIssued(t, ta, g, want...)
	g.add(ta.certs["d"], nil, nil, errors.New("ca down"), false)
	outs := g.wait(func() {})
	var ok []string
	for _, o := range outs {
		switch {
		case o.st.name == "d":
			if o.err == nil || o.err.Error() != "ca down" {
				t.Errorf("d: %v, want the issuance error", o.err)
			}
		case o.err != nil || o.leaf == nil || len(o.changed) != 2:
			t.Errorf("%s: %+v", o.st.name, o)
		default:
			ok = append(ok, o.st.name)
		}
	}
	slices.Sort(ok)
	if len(outs) != 4 || !slices.Equal(ok, want) {
		t.Fatalf("outcomes for %v, want a, b, c committed and d failed", ok)
	}
	for _, n := range want {
		if _, err := os.Stat(filepath.Join(ta.dir, "out", n+".key")); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := ta.st.PendingIntents(); len(p) != 3 {
		t.Fatalf("pending actions %v, want one per committed cert", p)
	}
}

// The daemon's idle hooks bracket each pass: Busy before, Idle after the
// pass's files are written.
func TestIdleHooksBracketEveryPass(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	var mu sync.Mutex
	var events []string
	idle := make(chan struct{}, 1)
	ta.opts.Idle = IdleHooks{
		Busy: func() { mu.Lock(); events = append(events, "busy"); mu.Unlock() },
		Idle: func() {
			_, err := os.Stat(filepath.Join(ta.dir, "out", "d.pem"))
			mu.Lock()
			events = append(events, "idle", "written="+boolStr(err == nil))
			mu.Unlock()
			select {
			case idle <- struct{}{}:
			default:
			}
		},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx) }()
	select {
	case <-idle:
	case <-time.After(time.Minute):
		t.Fatal("no idle edge after the first pass")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) < 3 || !slices.Equal(events[:3], []string{"busy", "idle", "written=true"}) {
		t.Fatalf("hook calls %v, want busy, then idle after the files were written", events)
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// With an observe function, every committed cert comes back with the
// reading of its files, taken after its batch was written; a failed
// issuance comes back without one.
func TestGroupCommitReadsCommittedFiles(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	g := startGroupCommit(ta.st, func(st *certState, files []store.File, v *pki.Vouched) observation {
		return observeCommitted(ta.cfg, st.cfg, files, nil, v, nil, time.Now())
	})
	queueIssued(t, ta, g, "a", "b", "c")
	g.add(ta.certs["d"], nil, nil, errors.New("ca down"), false)
	outs := g.wait(func() {})
	if len(outs) != 4 {
		t.Fatalf("%d outcomes, want 4", len(outs))
	}
	for _, o := range outs {
		switch {
		case o.err != nil:
			if o.obs != nil {
				t.Errorf("%s failed but was read", o.st.name)
			}
		case o.obs == nil || o.obs.leaf == nil:
			t.Errorf("%s: committed files not read: %+v", o.st.name, o.obs)
		case !sameSummary(o.obs.leaf, o.leaf) || len(o.obs.problems) != 0:
			t.Errorf("%s: read %v with problems %v, want the committed cert", o.st.name, o.obs.leaf.Serial(), o.obs.problems)
		default:
			// What a re-read finds: the same cert and problems.
			re := observeCert(ta.cfg, o.st.cfg, nil, time.Now())
			if !sameSummary(re.leaf, o.obs.leaf) || !slices.Equal(re.problems, o.obs.problems) {
				t.Errorf("%s: observed %+v, a re-read gives %+v", o.st.name, *o.obs, re)
			}
		}
	}
}

// queueIssued issues the named certs from the test agent's issuer and
// queues their sets on g.
func queueIssued(t *testing.T, ta *testAgent, g *groupCommit, names ...string) {
	t.Helper()
	for _, n := range names {
		st := ta.certs[n]
		b, err := ta.iss.Issue(context.Background(), requestFor(st.cfg, ta.cfg.Agent.StateDir, nil))
		if err != nil {
			t.Fatal(err)
		}
		files, err := outputFiles(st.cfg, b)
		if err != nil {
			t.Fatal(err)
		}
		g.add(st, b, files, nil, false)
	}
}

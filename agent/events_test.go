package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/notify"
)

// fakeSink records what the agent emits.
type fakeSink struct {
	mu      sync.Mutex
	events  []notify.Event
	targets map[string]*config.Notify
}

func (f *fakeSink) Emit(ev notify.Event) { f.mu.Lock(); f.events = append(f.events, ev); f.mu.Unlock() }
func (f *fakeSink) Configure(t map[string]*config.Notify) {
	f.mu.Lock()
	f.targets = t
	f.mu.Unlock()
}

func (f *fakeSink) of(kind string) []notify.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []notify.Event
	for _, e := range f.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// withSink rebuilds ta's agent with sink as its EventSink and an
// on_failure hook on cert d that dumps its environment to d.env.
func withSink(t *testing.T, ta *testAgent, sink *fakeSink) string {
	t.Helper()
	script := filepath.Join(ta.dir, "fail.sh")
	out := filepath.Join(ta.dir, "d.env")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nenv >> "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ta.cfg.Certs["d"].OnFailure = []string{script}
	ta.cfg.Notify = map[string]*config.Notify{"ops": {Name: "ops", Type: "command"}}
	a, err := New(Options{Config: ta.cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: ta.st, Restarter: ta.rs,
		Events: sink, Logger: ta.log})
	if err != nil {
		t.Fatal(err)
	}
	ta.Agent = a
	return out
}

// TestRollbackEmitsAndRunsOnFailure: a rollback emits rolled_back for
// the cert, describing the restored pair, and runs on_failure with
// reason rolled_back.
func TestRollbackEmitsAndRunsOnFailure(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	sink := &fakeSink{}
	envFile := withSink(t, ta, sink)
	if sink.targets["ops"] == nil {
		t.Fatal("the agent did not configure the sink's targets")
	}
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	good := serialOf(t, filepath.Join(ta.dir, "out/d.pem"))
	ta.rs.failOnce = map[string]error{"other.service": errors.New("unit other.service failed")}
	if err := ta.RenewOnce(ctx, []string{"d"}, true); err == nil {
		t.Fatal("rollback not reported")
	}
	rb := sink.of("rolled_back")
	if len(rb) != 1 || rb[0].Cert != "d" || rb[0].Serial != good || !strings.Contains(rb[0].Error, "rolled back") || rb[0].ID != "" {
		t.Fatalf("rolled_back events = %+v, want one for d with the restored serial %s", rb, good)
	}
	data, err := os.ReadFile(envFile)
	if err != nil {
		t.Fatalf("on_failure did not run: %v", err)
	}
	env := string(data)
	for _, want := range []string{"CERTAGENT_STAGE=on_failure", "CERTAGENT_REASON=rolled_back", "CERTAGENT_CERT_NAME=d",
		"CERTAGENT_SERIAL=" + good, "CERTAGENT_FAILURES=1"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("on_failure environment lacks %s:\n%s", want, env)
		}
	}
}

// TestFailedRenewalsEmitWithTheirCount: each failed renewal emits
// renewal_failed with the consecutive failure count (targets apply their
// failure_threshold), and runs on_failure.
func TestFailedRenewalsEmitWithTheirCount(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	sink := &fakeSink{}
	envFile := withSink(t, ta, sink)
	ta.iss.setErr(errors.New("ca unreachable"))
	ctx := context.Background()
	for range 2 {
		_ = ta.RenewOnce(ctx, []string{"d"}, true)
	}
	rf := sink.of("renewal_failed")
	if len(rf) != 2 || rf[0].Failures != 1 || rf[1].Failures != 2 || rf[1].Cert != "d" || !strings.Contains(rf[1].Error, "ca unreachable") {
		t.Fatalf("renewal_failed events = %+v, want failures 1 then 2 for d", rf)
	}
	data, _ := os.ReadFile(envFile)
	if n := strings.Count(string(data), "CERTAGENT_REASON=renewal_failed\n"); n != 2 {
		t.Errorf("on_failure ran %d times with reason renewal_failed, want 2", n)
	}
	if !strings.Contains(string(data), "CERTAGENT_ERROR=ca unreachable\n") {
		t.Errorf("on_failure did not get the error:\n%s", data)
	}
}

// TestPreExecRefusalBacksOff: a pre_exec that exits non-zero fails the
// renewal before any file changes; the failure is recorded and backed
// off (the next unforced pass does not issue again), and a daemon pass
// emits renewal_failed for it.
func TestPreExecRefusalBacksOff(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	sink := &fakeSink{}
	withSink(t, ta, sink)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	certPath := filepath.Join(ta.dir, "out/d.pem")
	before, _ := os.ReadFile(certPath)
	refuse := filepath.Join(ta.dir, "refuse.sh")
	if err := os.WriteFile(refuse, []byte("#!/bin/sh\necho no >&2\nexit 7\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ta.cfg.Certs["d"].PreExec = []string{refuse}
	err := ta.RenewOnce(ctx, []string{"d"}, true)
	if err == nil || !strings.Contains(err.Error(), "pre_exec refused the new certificate: exit code 7") {
		t.Fatalf("renew with a refusing pre_exec: %v", err)
	}
	after, _ := os.ReadFile(certPath)
	if string(after) != string(before) {
		t.Fatal("d.pem changed although pre_exec refused")
	}
	issued := ta.iss.count("d")
	if err := ta.RenewOnce(ctx, []string{"d"}, false); err == nil {
		t.Fatal("the pre_exec failure was forgotten by the next pass")
	}
	if ta.iss.count("d") != issued {
		t.Errorf("d issued again during its backoff (%d → %d)", issued, ta.iss.count("d"))
	}
	for _, r := range ta.Snapshot() {
		if r.Name == "d" && (r.Failures != 1 || !strings.Contains(r.LastError, "pre_exec refused")) {
			t.Errorf("status of d: failures %d, last error %q", r.Failures, r.LastError)
		}
	}
	if rf := sink.of("renewal_failed"); len(rf) != 1 || !strings.Contains(rf[0].Error, "exit code 7") {
		t.Errorf("renewal_failed events: %+v", rf)
	}
}

// TestRevokedAndNeedsTokenAreEmitted: a revoke and a step issuer's call
// for a new token reach the EventSink with the cert's name.
func TestRevokedAndNeedsTokenAreEmitted(t *testing.T) {
	ta, _, ctx := issuedWithRevoker(t)
	sink := &fakeSink{}
	ta.opts.Events = sink
	if err := ta.RevokeOnce(ctx, "web", RevokeOptions{Reason: ReasonKeyCompromise}); err != nil {
		t.Fatal(err)
	}
	if evs := sink.of(eventRevoked); len(evs) != 1 || evs[0].Cert != "web" || !strings.Contains(evs[0].Message, "keyCompromise") {
		t.Fatalf("revoked events: %+v", evs)
	}

	sa, f := newStepAgent(t)
	sa.opts.Events = sink
	tok := filepath.Join(sa.dir, "web.token")
	f.setErr(&NeedsTokenError{File: tok, Reason: "token file " + tok + " does not exist", Command: "step ca token web.example.com"})
	sa.pass(context.Background(), passOptions{})
	if evs := sink.of(eventNeedsToken); len(evs) != 1 || evs[0].Cert != "web" || !strings.Contains(evs[0].Message, tok) {
		t.Fatalf("needs_token events: %+v", evs)
	}
}

package agent

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// statusNotifier records the STATUS= lines.
type statusNotifier struct {
	nopNotifier
	mu    sync.Mutex
	lines []string
}

func (n *statusNotifier) Status(line string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, line)
	return nil
}

func (n *statusNotifier) last() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.lines) == 0 {
		return ""
	}
	return n.lines[len(n.lines)-1]
}

// runAgent starts ta.Run and stops it at the end of the test.
func runAgent(t *testing.T, ta *testAgent) context.Context {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ta.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return ctx
}

func failuresOf(ta *testAgent, name string) int {
	for _, r := range ta.Snapshot() {
		if r.Name == name {
			return r.Failures
		}
	}
	return -1
}

// TestRenewNowRunsInTheDaemon: a renew handed to the running daemon runs
// in its loop, answers the verdict, and, like an in-process renew, is not
// held back by certagent's own backoff but is by a CA's Retry-After.
func TestRenewNowRunsInTheDaemon(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := runAgent(t, ta)

	// The request waits for the first pass, then forces a second "a".
	if err := ta.RenewNow(ctx, []string{"a"}, true); err != nil {
		t.Fatalf("forced renew: %v", err)
	}
	if n := ta.iss.count("a"); n != 2 {
		t.Fatalf("a issued %d times, want 2 (first pass, then the forced renew)", n)
	}
	if err := ta.RenewNow(ctx, []string{"nope"}, false); !errors.Is(err, ErrNoSuchCert) {
		t.Errorf("unknown cert: %v, want ErrNoSuchCert", err)
	}

	ta.iss.setErr(errors.New("ca down"))
	err := ta.RenewNow(ctx, []string{"a"}, true)
	if err == nil || !strings.Contains(err.Error(), "a: ") || !strings.Contains(err.Error(), "ca down") {
		t.Fatalf("failed renew: %v, want the failure of a", err)
	}
	// Backoff now holds "a" for the daemon's own schedule; a plain renew
	// from the operator retries it anyway.
	ta.iss.setErr(nil)
	if err := ta.RenewNow(ctx, []string{"a"}, false); err != nil {
		t.Fatalf("plain renew after the failure: %v", err)
	}
	if n, f := ta.iss.count("a"), failuresOf(ta, "a"); n != 3 || f != 0 {
		t.Fatalf("after the retry: a issued %d times (want 3), failures %d (want 0)", n, f)
	}

	// A CA's Retry-After binds a plain renew.
	ta.iss.setErr(&RetryAfterError{Until: time.Now().Add(3 * time.Hour), Err: errors.New("rateLimited")})
	if err := ta.RenewNow(ctx, []string{"a"}, true); err == nil {
		t.Fatal("renew against a rate-limited CA succeeded")
	}
	ta.iss.setErr(nil)
	before := ta.iss.count("a")
	if err := ta.RenewNow(ctx, []string{"a"}, false); err == nil || !strings.Contains(err.Error(), "rateLimited") {
		t.Errorf("plain renew inside the CA's Retry-After: %v, want the recorded rateLimited failure", err)
	}
	if ta.iss.count("a") != before {
		t.Error("a plain renew contacted a CA that asked to wait")
	}
}

// TestReloadNowAnswersAndTheStatusLineTellsTheRejection: a rejected reload
// returns its error, logs one entry per problem, and the status line
// starts with "config rejected at HH:MM: <first problem>" until a reload
// succeeds.
func TestReloadNowAnswersAndTheStatusLineTellsTheRejection(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	n := &statusNotifier{}
	ta.opts.Notifier = n
	good := ta.cfg
	bad := errors.New("test.toml:3: agent: key \"log_levle\": unknown key\ntest.toml:9: cert \"x\": key \"mode\": bad mode")
	ta.opts.Reload = func() (*config.Config, map[string]Issuer, error) { return nil, nil, bad }
	ctx := runAgent(t, ta)

	if err := ta.ReloadNow(ctx); err == nil || err.Error() != bad.Error() {
		t.Fatalf("rejected reload answered %v", err)
	}
	want := regexp.MustCompile(`^config rejected at \d\d:\d\d: test\.toml:3: agent: key "log_levle": unknown key; 4 certs ok`)
	if got := n.last(); !want.MatchString(got) || strings.Contains(got, "bad mode") {
		t.Errorf("status line %q, want %s", got, want)
	}
	var rejected []string
	for _, l := range strings.Split(ta.logs(), "\n") {
		if strings.Contains(l, "event=config_rejected") {
			rejected = append(rejected, l)
		}
	}
	if len(rejected) != 2 || !strings.Contains(rejected[0], "log_levle") || !strings.Contains(rejected[1], "bad mode") {
		t.Errorf("want one config_rejected entry per problem, got:\n%s", strings.Join(rejected, "\n"))
	}
	// Passes keep the notice.
	if err := ta.RenewNow(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := n.last(); !strings.HasPrefix(got, "config rejected at ") {
		t.Errorf("status line after a pass: %q, want the rejection still shown", got)
	}

	ta.opts.Reload = func() (*config.Config, map[string]Issuer, error) { return good, map[string]Issuer{"ca": ta.iss}, nil }
	if err := ta.ReloadNow(ctx); err != nil {
		t.Fatalf("good reload: %v", err)
	}
	if got := n.last(); strings.Contains(got, "rejected") || !strings.Contains(got, "4 certs ok") {
		t.Errorf("status line after a good reload: %q", got)
	}
}

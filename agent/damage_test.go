package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBackstopReportsMissedDamage: a key damaged without a file event
// (the watcher cannot see a network file system) is found by the
// check_interval backstop, reported once as an external change naming the
// cert, and repaired; neither the first issuance nor a backstop look at
// whole files is reported.
func TestBackstopReportsMissedDamage(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ta.logs(), "event=external_change") {
		t.Fatalf("first issuance reported as an outside change:\n%s", ta.logs())
	}
	key := filepath.Join(ta.dir, "out/a.key")
	if err := os.WriteFile(key, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// No event: only the backstop looks again, once check_interval passed.
	for _, st := range ta.certs {
		st.inspected = time.Now().Add(-13 * time.Hour)
	}
	ta.pass(ctx, passOptions{})
	logs := ta.logs()
	if n := strings.Count(logs, "event=external_change"); n != 1 || !strings.Contains(logs, "cert=a") ||
		!strings.Contains(logs, "kind=unparsable") {
		t.Fatalf("%d external_change reports, want 1 for a (unparsable key):\n%s", n, logs)
	}
	if ta.iss.count("a") != 2 {
		t.Fatalf("a issued %d times, want 2 (repaired)", ta.iss.count("a"))
	}
	if err := pairOK(filepath.Join(ta.dir, "out/a.pem"), key); err != nil {
		t.Fatalf("after the repair: %v", err)
	}
	// The backstop looking again at whole files reports nothing.
	for _, st := range ta.certs {
		st.inspected = time.Now().Add(-13 * time.Hour)
	}
	ta.pass(ctx, passOptions{})
	if n := strings.Count(ta.logs(), "event=external_change"); n != 1 {
		t.Fatalf("whole files reported as an outside change:\n%s", ta.logs())
	}
}

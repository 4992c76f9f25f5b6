package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

const oneCert = `
[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
[certs.node]
issuer = "ca"
dns_names = ["node.example.com"]
validity = "150s"
cert_file = "{{dir}}/out/node.pem"
key_file = "{{dir}}/out/node.key"
`

// TestSpreadSeedPerInstall: two installs with one config, issued in the
// same instant (a synctest bubble: same NotBefore and NotAfter), plan
// different renewal times; the seed file is 0600 in the state dir, and a
// restart of one install plans the same time as before.
func TestSpreadSeedPerInstall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		plan := func(ta *testAgent) time.Time {
			t.Helper()
			if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
				t.Fatal(err)
			}
			rows := ta.Snapshot()
			if len(rows) != 1 || rows[0].NextRenewal.IsZero() {
				t.Fatalf("status %+v, want one cert with a next renewal", rows)
			}
			return rows[0].NextRenewal
		}
		var ats []time.Time
		var first *testAgent
		for i := range 2 {
			ta := newTestAgent(t, oneCert)
			ats = append(ats, plan(ta))
			if i == 0 {
				first = ta
			}
		}
		if ats[0].Equal(ats[1]) {
			t.Fatalf("two installs with one config renew at the same instant %s", ats[0])
		}
		st, err := os.Stat(filepath.Join(first.dir, "state", "spread-seed"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("seed file: %v, %v; want a 0600 file in the state dir", st, err)
		}
		restarted, err := New(Options{Config: first.cfg, Issuers: first.issuers, Store: first.st})
		if err != nil {
			t.Fatal(err)
		}
		if again := plan(&testAgent{Agent: restarted}); !again.Equal(ats[0]) {
			t.Fatalf("after a restart the renewal moved from %s to %s", ats[0], again)
		}
	})
}

// blockingIssuer starts an order and holds it until ctx ends, then fails
// the way lego reports a cancelled order.
type blockingIssuer struct {
	*fakeIssuer
	started chan struct{}
}

func (b *blockingIssuer) Issue(ctx context.Context, req Request) (*Bundle, error) {
	close(b.started)
	<-ctx.Done()
	return nil, fmt.Errorf("order certificate: %w", errors.New("terminated signal received"))
}

// TestShutdownCancelsOrderQuietly: an order in flight when the daemon is
// stopped is logged at INFO as cancelled (event=renewal_cancelled), not
// as an ERROR failure, and no failure is recorded for the cert.
func TestShutdownCancelsOrderQuietly(t *testing.T) {
	ta := newTestAgent(t, oneCert)
	bi := &blockingIssuer{fakeIssuer: ta.iss, started: make(chan struct{})}
	ta.issuers = map[string]Issuer{"ca": bi}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- ta.Run(ctx) }()
	<-bi.started
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	logs := ta.logs()
	if !strings.Contains(logs, "[INFO]  renewal cancelled by shutdown; old files left in place: cert=node issuer=ca event=renewal_cancelled") {
		t.Fatalf("no INFO renewal_cancelled line:\n%s", logs)
	}
	if strings.Contains(logs, "[ERROR]") || strings.Contains(logs, "renew_failed") {
		t.Fatalf("a cancelled order was logged as a failure:\n%s", logs)
	}
	if rows := ta.Snapshot(); len(rows) != 1 || rows[0].Failures != 0 || rows[0].LastError != "" {
		t.Fatalf("status after a cancelled order: %+v, want no failure", rows)
	}
}

// TestSpreadSeedUnwritableStillSpreads: a state dir that cannot hold the
// seed (here a directory sits where the file goes) costs persistence, not
// the run: the agent warns, jitters with a seed of its own, and renews.
func TestSpreadSeedUnwritableStillSpreads(t *testing.T) {
	ta := newTestAgent(t, oneCert)
	if err := os.Mkdir(filepath.Join(ta.dir, "state", "spread-seed"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := ta.RenewOnce(context.Background(), nil, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ta.logs(), "[WARN]  cannot keep the spread seed in the state dir; using one for this run only") {
		t.Fatalf("no warning about the seed:\n%s", ta.logs())
	}
	if len(ta.spreadSeed) == 0 || ta.iss.count("node") != 1 {
		t.Fatalf("seed %x, %d issuances; want a seed for this run and the cert issued", ta.spreadSeed, ta.iss.count("node"))
	}
}

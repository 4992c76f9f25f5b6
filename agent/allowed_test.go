package agent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
)

// A journal record that the configuration does not allow (here: it would
// restart a unit no cert names, as a record planted in, or left from an
// older config in, the state dir would) is not replayed at start. Its
// target is left as it is: the key that an interrupted write already put
// in place no longer matches the cert, so the pass inspects the pair
// again and re-issues it, and the unit is acted on only as configured.
func TestRefusedJournalRecordNotReplayedPairReissued(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	ctx := context.Background()
	if err := ta.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(ta.dir, "out")
	// The half-written set: the key of another pair is in place already,
	// the record would rename a waiting file over the cert and queue a
	// restart of sshd.service.
	other, err := pki.GenerateKey(pki.KeyEC256)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, err := pki.EncodeKeyPEM(other, "pkcs8")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "a.key"), otherPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	temp := ".a.pem.certagent-0123456789abcdef.tmp"
	if err := os.WriteFile(filepath.Join(out, temp), []byte("not a cert"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec, _ := json.Marshal(map[string]any{"version": 1, "cert": "a", "state": "commit",
		"renames": []map[string]string{{"dir": out, "temp": temp, "target": "a.pem"}},
		"intents": []store.Intent{{Unit: "sshd.service", Action: "restart", Cert: "a"}}})
	journal := filepath.Join(ta.dir, "state", "journal")
	if err := os.WriteFile(filepath.Join(journal, "commit-a.json"), rec, 0o600); err != nil {
		t.Fatal(err)
	}
	issued := ta.iss.count("a")
	calls := len(ta.rs.Calls())

	// The restarted agent.
	var logs strings.Builder
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, JSONFormat: true})
	st, err := store.Open(filepath.Join(ta.dir, "state"), logger)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Config: ta.cfg, Issuers: map[string]Issuer{"ca": ta.iss}, Store: st, Restarter: ta.rs, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(journal, "refused", "commit-a.json")); err != nil {
		t.Fatalf("refused record not moved aside: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(out, temp)); err != nil || string(b) != "not a cert" {
		t.Fatalf("the refused record's file was touched: %q, %v", b, err)
	}
	if !strings.Contains(logs.String(), `"event":"journal_record_refused"`) ||
		!strings.Contains(logs.String(), `"reason":"action_not_configured"`) {
		t.Fatalf("no journal_record_refused log entry:\n%s", logs.String())
	}
	if got := ta.iss.count("a"); got != issued+1 {
		t.Fatalf("cert issued %d more times, want 1 (its pair no longer matched)", got-issued)
	}
	rep := pki.Inspect(filepath.Join(out, "a.pem"), filepath.Join(out, "a.key"), pki.Expect{}, a.clock.Now())
	if len(rep.Problems) > 0 {
		t.Fatalf("pair after the pass: %v", rep.Problems)
	}
	got := ta.rs.Calls()[calls:]
	if slices.Contains(got, "sshd.service:restart") || !slices.Equal(got, []string{"svc.service:restart"}) {
		t.Fatalf("unit actions %v, want only svc.service:restart", got)
	}
}

// The Allowed set names exactly what Commit is given for each cert.
func TestAllowedForMatchesCommit(t *testing.T) {
	ta := newTestAgent(t, threeCertsOneUnit)
	allow := allowedFor(ta.cfg)
	d := allow["d"]
	if len(allow) != 4 || !slices.Equal(d.Intents, intentsFor(ta.cfg.Certs["d"])) ||
		!slices.Equal(d.Outputs, []store.Output{{Path: filepath.Join(ta.dir, "out/d.key")}, {Path: filepath.Join(ta.dir, "out/d.pem")}}) {
		t.Fatalf("allowed = %+v", allow)
	}
}

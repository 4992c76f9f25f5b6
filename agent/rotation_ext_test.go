package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/hashicorp/go-hclog"
)

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type recRestarter struct {
	mu    sync.Mutex
	calls []string
}

func (r *recRestarter) Act(_ context.Context, unit string, action agent.Action, _ agent.ActOptions) (agent.Verdict, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, string(action)+" "+unit)
	return agent.Verdict{ActiveState: "active", Result: "success"}, nil
}

func (r *recRestarter) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.calls) }

// The daemon's passes start a rotation on their own once the CA has
// lived rotate_at of its life, give the ca_file both roots with the
// cert's unit action, and show the rotation in the status rows; the
// spread re-issue then replaces the leaf, and after the overlap the old
// root leaves the ca_file.
func TestRotationStartsAtRotateAt(t *testing.T) {
	dir := t.TempDir()
	text := strings.ReplaceAll(`[agent]
state_dir = "{{dir}}/state"
[issuers.ca]
type = "local"
key_type = "ec256"
validity = "10h"
rotate_at = "10%"
overlap = "2h"
[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
validity = "2h"
cert_file = "{{dir}}/tls/cert.pem"
key_file = "{{dir}}/tls/key.pem"
ca_file = "{{dir}}/tls/ca.pem"
units = ["web.service"]
`, "{{dir}}", dir)
	cfg, err := config.Parse("t.toml", []byte(text), config.Options{SkipFileChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(cfg.Agent.StateDir, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	ca := localca.New("ca", filepath.Join(cfg.Agent.StateDir, "ca", "ca"), cfg.Issuers["ca"])
	clk := &stepClock{t: time.Now()}
	rs := &recRestarter{}
	a, err := agent.New(agent.Options{Config: cfg, Issuers: map[string]agent.Issuer{"ca": ca}, Store: st, Restarter: rs, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	roots := func() int {
		b, err := os.ReadFile(filepath.Join(dir, "tls", "ca.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cs, err := pki.ParseCertsPEM(b)
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if rec, _ := ca.Rotation(ctx); rec != nil || roots() != 1 {
		t.Fatalf("a rotation before rotate_at: %+v", rec)
	}
	clk.add(30 * time.Minute) // 5% of the CA's life
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if rec, _ := ca.Rotation(ctx); rec != nil {
		t.Fatalf("a rotation at 5%% of the CA's life: %+v", rec)
	}
	actions := rs.count()
	clk.add(40 * time.Minute) // past 10%
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	rec, err := ca.Rotation(ctx)
	if err != nil || rec == nil || rec.Reason != agent.RotationByAge || rec.Phase != agent.PhaseReissue {
		t.Fatalf("at rotate_at: rotation %+v, %v; want reason age in phase reissue", rec, err)
	}
	if roots() != 2 || rs.count() <= actions {
		t.Errorf("ca_file holds %d roots and %d unit actions ran; want both roots and the unit restarted", roots(), rs.count()-actions)
	}
	rows := a.Snapshot()
	if len(rows) != 1 || rows[0].CARotation == nil || rows[0].CARotation.Phase != agent.PhaseReissue || rows[0].CARotation.NewSerial != rec.NewSerial {
		t.Fatalf("status rows do not show the rotation: %+v", rows)
	}
	if rows[0].CARotation.LeafFrom == "old" && rows[0].CARotation.ReissueAt.IsZero() {
		t.Error("an old leaf shows no reissue_at")
	}
	clk.add(time.Hour) // past the first half of the overlap: the leaf is re-issued
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if got := a.Snapshot()[0].CARotation; got == nil || got.LeafFrom != "new" {
		t.Fatalf("after half the overlap the leaf is not from the new CA: %+v", got)
	}
	if roots() != 2 {
		t.Error("the old root left the ca_file before the overlap ended")
	}
	clk.add(90 * time.Minute) // past the overlap
	if err := a.RenewOnce(ctx, nil, false); err != nil {
		t.Fatal(err)
	}
	if rec, _ := ca.Rotation(ctx); rec != nil || roots() != 1 {
		t.Fatalf("after the overlap: rotation %+v, ca_file %d roots", rec, roots())
	}
	if a.Snapshot()[0].CARotation != nil {
		t.Error("status still shows a finished rotation")
	}
}

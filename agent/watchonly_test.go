package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeSelfSigned puts a fresh self-signed pair (as another tool would
// leave it) at cert and key.
func writeSelfSigned(t *testing.T, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "legacy.example.com"},
		DNSNames: []string{"legacy.example.com"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(k)
	if err := os.MkdirAll(filepath.Dir(cert), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWatchOnlyActionStaysPending: a watch-only pair replaced while the
// service manager is unreachable keeps its unit action pending in the
// journal (its hook, which needs no bus, runs at once), and the action is
// delivered once the bus is back, without the pair changing again.
func TestWatchOnlyActionStaysPending(t *testing.T) {
	ta := newTestAgent(t, `
[agent]
state_dir = "{{dir}}/state"

[watch.legacy]
cert_file = "{{dir}}/live/cert.pem"
key_file = "{{dir}}/live/key.pem"
units = ["nginx.service"]
action = "reload"
exec = ["/bin/sh", "-c", "echo \"$CERTAGENT_CERT_NAME\" >> {{dir}}/hook.log"]
`)
	cert, key := filepath.Join(ta.dir, "live/cert.pem"), filepath.Join(ta.dir, "live/key.pem")
	writeSelfSigned(t, cert, key)
	ctx := context.Background()
	changed := passOptions{dirty: map[string]bool{watchKeyPrefix + "legacy": true}}
	ta.pass(ctx, passOptions{})
	if calls := ta.rs.Calls(); len(calls) != 0 {
		t.Fatalf("actions at first sight of the pair: %v", calls)
	}

	ta.rs.fail["nginx.service"] = fmt.Errorf("connect: %w", ErrUnavailable)
	writeSelfSigned(t, cert, key)
	ta.pass(ctx, changed)
	pending, err := ta.st.PendingIntents()
	if err != nil || len(pending) != 1 || pending[0].Unit != "nginx.service" || pending[0].Cert != "watch:legacy" {
		t.Fatalf("pending after an unreachable bus: %+v (%v), want the nginx.service reload of watch:legacy", pending, err)
	}
	if b, _ := os.ReadFile(filepath.Join(ta.dir, "hook.log")); string(b) != "legacy\n" {
		t.Errorf("hook log %q, want one run", b)
	}

	ta.rs.fail = map[string]error{}
	ta.pass(ctx, passOptions{}) // no file event: only the pending action
	if p, _ := ta.st.PendingIntents(); len(p) != 0 {
		t.Fatalf("still pending after the bus came back: %+v", p)
	}
	if got := strings.Join(ta.rs.Calls(), " "); got != "nginx.service:reload nginx.service:reload" {
		t.Errorf("calls %q, want the unreachable attempt and the delivery", got)
	}
	if !strings.Contains(ta.logs(), "cert=watch:legacy") {
		t.Errorf("the unit verdict does not name the watch entry:\n%s", ta.logs())
	}
}

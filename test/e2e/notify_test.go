package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"github.com/certagent/certagent/internal/testbin"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookRecorder is a receiver for webhooks: a real HTTP server on
// loopback that answers 500 while failing is set, and records bodies.
type hookRecorder struct {
	mu      sync.Mutex
	failing bool
	bodies  []map[string]any
	status  []int
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	h.mu.Lock()
	defer h.mu.Unlock()
	code := http.StatusNoContent
	if h.failing {
		code = http.StatusInternalServerError
	}
	h.bodies = append(h.bodies, m)
	h.status = append(h.status, code)
	w.WriteHeader(code)
}

func (h *hookRecorder) setFailing(f bool) { h.mu.Lock(); h.failing = f; h.mu.Unlock() }

// got lists the bodies of event kind, and their answers.
func (h *hookRecorder) got(kind string) (bodies []map[string]any, status []int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, b := range h.bodies {
		if b["event"] == kind {
			bodies, status = append(bodies, b), append(status, h.status[i])
		}
	}
	return bodies, status
}

// expiringCert writes a self-signed cert that has 1 day left of 30.
func expiringCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "legacy.example.com"},
		DNSNames: []string{"legacy.example.com"}, NotBefore: time.Now().Add(-29 * 24 * time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	c, _ := x509.ParseCertificate(der)
	return c
}

// writeScript writes an executable shell script (root-owned, 0755).
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

const notifyConfig = `
[agent]
state_dir = "{{state}}"
log_level = "debug"

[watch.legacy]
cert_file = "{{out}}/legacy/cert.pem"

[notify.hook]
type = "webhook"
url = "%s"
headers_file = "%s"
events = ["expiring", "config_rejected", "revoked"]

[notify.page]
type = "command"
command = ["%s", "--team", "infra"]
events = ["expiring"]
`

// TestNotifyWebhookRetriesAndRedeliversAfterRestart runs the daemon with
// a watch-only cert inside its warning horizon and two targets: a
// webhook that fails at first and a command. The failed delivery is
// kept in the state dir across a restart and delivered after it with
// the same id; the daily limit holds across the restart; a rejected
// reload is reported too.
func TestNotifyWebhookRetriesAndRedeliversAfterRestart(t *testing.T) {
	rec := &hookRecorder{failing: true}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	e := newEnv(t)
	if err := os.MkdirAll(e.Path("legacy"), 0o755); err != nil {
		t.Fatal(err)
	}
	leaf := expiringCert(t, e.Path("legacy/cert.pem"))
	headers := filepath.Join(e.Dir, "hook.headers")
	if err := os.WriteFile(headers, []byte("Authorization: Bearer e2e-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pageOut := filepath.Join(e.Dir, "page.out")
	page := filepath.Join(e.Dir, "page.sh")
	writeScript(t, page, `echo "$CERTAGENT_EVENT $CERTAGENT_CERT_NAME $CERTAGENT_SOURCE $CERTAGENT_SERIAL $1 $2" >> `+pageOut+"\n")
	cfg := fmt.Sprintf(notifyConfig, srv.URL+"/certagent", headers, page)
	e.WriteConfig(t, cfg)
	if r := certagent(t, "check", "--config", e.Config); r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	d := startDaemon(t, e)
	d.Await(1, time.Minute, "notification not delivered; will retry")
	d.Await(1, time.Minute, `notification delivered`) // the command target
	if _, err := d.Stop(); err != nil {
		t.Fatalf("daemon stop: %v", err)
	}
	first, status := rec.got("expiring")
	if len(first) != 1 || status[0] != 500 {
		t.Fatalf("before restart: %d expiring requests (%v), want 1 answered 500", len(first), status)
	}
	b := first[0]
	serial := fmt.Sprintf("%x", leaf.SerialNumber)
	if b["cert"] != "legacy" || b["source"] != "watch" || b["serial"] != serial || b["version"] != 1.0 {
		t.Errorf("body %v: want cert legacy, source watch, serial %s, version 1", b, serial)
	}
	queued, _ := filepath.Glob(filepath.Join(e.State, "notify", "hook.*.json"))
	if len(queued) != 1 {
		t.Fatalf("pending deliveries in the state dir after stop: %v, want 1", queued)
	}
	if fi, err := os.Stat(queued[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("queued file mode: %v %v, want 0600", fi.Mode(), err)
	}

	// The receiver is fixed; the restarted daemon delivers the kept event.
	rec.setFailing(false)
	d = startDaemon(t, e)
	d.Await(1, time.Minute, "notifications pending from an earlier run")
	testbin.Eventually(t, time.Minute, "redelivery", func() bool { _, s := rec.got("expiring"); return len(s) == 2 })
	all, status := rec.got("expiring")
	if status[1] != http.StatusNoContent || all[1]["id"] != b["id"] {
		t.Errorf("redelivered id %v (status %d), first attempt id %v", all[1]["id"], status[1], b["id"])
	}
	testbin.Eventually(t, time.Minute, "queue emptied", func() bool {
		left, _ := filepath.Glob(filepath.Join(e.State, "notify", "hook.*.json"))
		return len(left) == 0
	})

	// A rejected reload is reported; the running config stays.
	e.WriteConfig(t, cfg+"\n[certs.broken]\nissuer = \"nope\"\n")
	d.Signal(syscall.SIGHUP)
	testbin.Eventually(t, time.Minute, "config_rejected notification", func() bool { _, s := rec.got("config_rejected"); return len(s) == 1 })
	rej, _ := rec.got("config_rejected")
	if e, _ := rej[0]["error"].(string); !strings.Contains(e, "nope") {
		t.Errorf("config_rejected error %q does not say what was wrong", e)
	}
	if _, err := d.Stop(); err != nil {
		t.Fatalf("daemon stop: %v", err)
	}
	// Once a day: the second run saw the cert expiring too, and sent nothing new.
	if got, _ := rec.got("expiring"); len(got) != 2 {
		t.Errorf("expiring requests = %d, want 2 (one failed, one redelivered; the daily limit held across the restart)", len(got))
	}
	out, err := os.ReadFile(pageOut)
	if err != nil {
		t.Fatal(err)
	}
	if want := "expiring legacy watch " + serial + " --team infra\n"; string(out) != want {
		t.Errorf("command target ran with %q, want once with %q", out, want)
	}
}

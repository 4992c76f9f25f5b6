package notify

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// receiver is a real HTTP server on loopback that records every request
// and answers with the next status of its script (200 once it runs out).
type receiver struct {
	srv *httptest.Server

	mu     sync.Mutex
	status []int
	got    []received
}

type received struct {
	header http.Header
	body   map[string]any
}

func newReceiver(t *testing.T, status ...int) *receiver {
	r := &receiver{status: status}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Errorf("body is not JSON: %v: %s", err, b)
		}
		r.mu.Lock()
		r.got = append(r.got, received{header: req.Header.Clone(), body: m})
		code := http.StatusOK
		if len(r.status) > 0 {
			code, r.status = r.status[0], r.status[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

// clock is an injected clock the test moves by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type counts struct {
	mu sync.Mutex
	m  map[string]int
}

func (c *counts) Notification(target, event, result string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	c.m[target+"/"+event+"/"+result]++
}

func (c *counts) get(k string) int { c.mu.Lock(); defer c.mu.Unlock(); return c.m[k] }

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func webhookTarget(url string, events ...string) *config.Notify {
	if len(events) == 0 {
		events = []string{"renewal_failed", "expiring", "rolled_back", "config_rejected"}
	}
	return &config.Notify{Name: "ops", Type: "webhook", URL: url, Events: events,
		FailureThreshold: 3, Timeout: config.Duration{Duration: 5 * time.Second}}
}

func newTestNotifier(t *testing.T, dir string, clk *clock, m *counts, targets map[string]*config.Notify) *Notifier {
	n := New(Options{Dir: dir, Now: clk.Now, Metrics: m, Host: "host-1"})
	n.Configure(targets)
	return n
}

func pendingFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != ledgerFile {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWebhookBodyAndHeaders(t *testing.T) {
	rcv := newReceiver(t)
	dir := filepath.Join(t.TempDir(), "notify")
	hdr := filepath.Join(t.TempDir(), "ops.headers")
	if err := os.WriteFile(hdr, []byte("# token\nAuthorization: Bearer s3cret\nx-team: infra\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := webhookTarget(rcv.srv.URL + "/hook")
	tg.HeadersFile = hdr
	clk := &clock{now: t0}
	m := &counts{}
	n := newTestNotifier(t, dir, clk, m, map[string]*config.Notify{"ops": tg})
	notAfter := t0.Add(72 * time.Hour)
	n.Emit(Event{Kind: "expiring", Cert: "web", Source: "cert", Message: "certificate expires soon", Serial: "0a1b", NotAfter: notAfter})
	if got := pendingFiles(t, dir); len(got) != 1 {
		t.Fatalf("queued files = %v, want one before delivery", got)
	}
	n.flush(context.Background())
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	want := map[string]any{"version": 1.0, "event": "expiring", "cert": "web", "source": "cert", "host": "host-1",
		"message": "certificate expires soon", "serial": "0a1b", "not_after": "2026-12-03T12:00:00Z", "time": "2026-11-30T12:00:00Z"}
	for k, v := range want {
		if r.body[k] != v {
			t.Errorf("body[%q] = %v, want %v (body %v)", k, r.body[k], v, r.body)
		}
	}
	id, _ := r.body["id"].(string)
	if len(id) != 32 {
		t.Errorf("id = %q, want 32 hex digits", id)
	}
	if r.header.Get("Authorization") != "Bearer s3cret" || r.header.Get("X-Team") != "infra" {
		t.Errorf("headers from headers_file not sent: %v", r.header)
	}
	if r.header.Get("Idempotency-Key") != id || r.header.Get("X-Certagent-Event") != "expiring" ||
		r.header.Get("Content-Type") != "application/json" {
		t.Errorf("event headers wrong: %v", r.header)
	}
	if got := pendingFiles(t, dir); len(got) != 0 {
		t.Errorf("delivered event still queued: %v", got)
	}
	if m.get("ops/expiring/delivered") != 1 {
		t.Errorf("metrics = %v, want one delivered", m.m)
	}
}

func TestRetryWithBackoffKeepsTheID(t *testing.T) {
	rcv := newReceiver(t, 500, 503)
	dir := filepath.Join(t.TempDir(), "notify")
	clk := &clock{now: t0}
	m := &counts{}
	n := newTestNotifier(t, dir, clk, m, map[string]*config.Notify{"ops": webhookTarget(rcv.srv.URL)})
	n.Emit(Event{Kind: "rolled_back", Cert: "web", Message: "rolled back"})
	ctx := context.Background()
	if next := n.flush(ctx); !next.Equal(t0.Add(30 * time.Second)) {
		t.Errorf("after the first failure next attempt at %v, want +30s", next)
	}
	clk.add(29 * time.Second)
	n.flush(ctx)
	if len(rcv.requests()) != 1 {
		t.Fatalf("retried before the backoff elapsed: %d requests", len(rcv.requests()))
	}
	clk.add(time.Second)
	if next := n.flush(ctx); !next.Equal(clk.Now().Add(time.Minute)) {
		t.Errorf("after the second failure next attempt at %v, want +1m (doubling)", next)
	}
	clk.add(time.Minute)
	if next := n.flush(ctx); !next.IsZero() {
		t.Errorf("nothing should be pending after delivery, next = %v", next)
	}
	reqs := rcv.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	for _, r := range reqs[1:] {
		if r.body["id"] != reqs[0].body["id"] {
			t.Errorf("retry carries id %v, first attempt %v", r.body["id"], reqs[0].body["id"])
		}
	}
	if m.get("ops/rolled_back/failed") != 2 || m.get("ops/rolled_back/delivered") != 1 {
		t.Errorf("metrics = %v, want 2 failed and 1 delivered", m.m)
	}
	if got := pendingFiles(t, dir); len(got) != 0 {
		t.Errorf("delivered event still queued: %v", got)
	}
}

func TestBackoffIsCapped(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 8: time.Hour, 50: time.Hour} {
		if got := backoff(attempts); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempts, got, want)
		}
	}
}

func TestOnePerEventCertAndDayAcrossRestart(t *testing.T) {
	rcv := newReceiver(t)
	dir := filepath.Join(t.TempDir(), "notify")
	clk := &clock{now: t0}
	m := &counts{}
	targets := map[string]*config.Notify{"ops": webhookTarget(rcv.srv.URL)}
	n := newTestNotifier(t, dir, clk, m, targets)
	ctx := context.Background()
	n.Emit(Event{Kind: "expiring", Cert: "web"})
	clk.add(time.Hour)
	n.Emit(Event{Kind: "expiring", Cert: "web"})    // same day: suppressed
	n.Emit(Event{Kind: "expiring", Cert: "api"})    // other cert
	n.Emit(Event{Kind: "rolled_back", Cert: "web"}) // other event
	n.flush(ctx)
	if got := len(rcv.requests()); got != 3 {
		t.Fatalf("delivered %d, want 3 (one per event and cert)", got)
	}
	// A restart does not reset the limit.
	n2 := newTestNotifier(t, dir, clk, m, targets)
	clk.add(22 * time.Hour) // 23h after the first
	n2.Emit(Event{Kind: "expiring", Cert: "web"})
	n2.flush(ctx)
	if got := len(rcv.requests()); got != 3 {
		t.Fatalf("after a restart, within the day: delivered %d, want still 3", got)
	}
	clk.add(time.Hour) // 24h after the first
	n2.Emit(Event{Kind: "expiring", Cert: "web"})
	n2.flush(ctx)
	if got := len(rcv.requests()); got != 4 {
		t.Fatalf("a day later: delivered %d, want 4", got)
	}
	if m.get("ops/expiring/suppressed") != 2 {
		t.Errorf("suppressed = %d, want 2", m.get("ops/expiring/suppressed"))
	}
}

func TestRedeliveryAfterRestart(t *testing.T) {
	rcv := newReceiver(t, 500)
	dir := filepath.Join(t.TempDir(), "notify")
	clk := &clock{now: t0}
	targets := map[string]*config.Notify{"ops": webhookTarget(rcv.srv.URL)}
	n := newTestNotifier(t, dir, clk, &counts{}, targets)
	n.Emit(Event{Kind: "renewal_failed", Cert: "web", Failures: 3, Error: "ca unreachable"})
	n.flush(context.Background())
	if len(rcv.requests()) != 1 || len(pendingFiles(t, dir)) != 1 {
		t.Fatalf("want one failed attempt and the event kept; requests %d, files %v", len(rcv.requests()), pendingFiles(t, dir))
	}
	// "Restart": a new notifier on the same state dir, an hour later.
	clk.add(time.Hour)
	n2 := newTestNotifier(t, dir, clk, &counts{}, targets)
	n2.flush(context.Background())
	reqs := rcv.requests()
	if len(reqs) != 2 {
		t.Fatalf("after restart receiver got %d requests in all, want 2", len(reqs))
	}
	if reqs[1].body["id"] != reqs[0].body["id"] || reqs[1].body["error"] != "ca unreachable" || reqs[1].body["failures"] != 3.0 {
		t.Errorf("redelivered body %v differs from the first %v", reqs[1].body, reqs[0].body)
	}
	if got := pendingFiles(t, dir); len(got) != 0 {
		t.Errorf("acknowledged event still queued: %v", got)
	}
}

func TestRenewalFailedThresholdAndSubscriptions(t *testing.T) {
	rcv := newReceiver(t)
	dir := filepath.Join(t.TempDir(), "notify")
	clk := &clock{now: t0}
	only := webhookTarget(rcv.srv.URL, "renewal_failed")
	n := newTestNotifier(t, dir, clk, &counts{}, map[string]*config.Notify{"ops": only})
	n.Emit(Event{Kind: "renewal_failed", Cert: "web", Failures: 2})
	n.Emit(Event{Kind: "expiring", Cert: "web"}) // not subscribed
	n.flush(context.Background())
	if got := len(rcv.requests()); got != 0 {
		t.Fatalf("sent %d before the threshold or unsubscribed, want 0", got)
	}
	n.Emit(Event{Kind: "renewal_failed", Cert: "web", Failures: 3})
	n.flush(context.Background())
	if got := rcv.requests(); len(got) != 1 || got[0].body["failures"] != 3.0 {
		t.Fatalf("at the threshold: %v, want one renewal_failed with failures 3", got)
	}
}

func TestDroppedWhenTargetRemovedOrTooOld(t *testing.T) {
	rcv := newReceiver(t, 500, 500, 500)
	dir := filepath.Join(t.TempDir(), "notify")
	clk := &clock{now: t0}
	m := &counts{}
	n := newTestNotifier(t, dir, clk, m, map[string]*config.Notify{"ops": webhookTarget(rcv.srv.URL), "b": webhookTarget(rcv.srv.URL)})
	n.Emit(Event{Kind: "expiring", Cert: "web"})
	n.flush(context.Background())
	n.Configure(map[string]*config.Notify{"ops": webhookTarget(rcv.srv.URL)})
	clk.add(MaxAge + time.Minute)
	n.flush(context.Background())
	if got := pendingFiles(t, dir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
	if m.get("b/expiring/dropped") != 1 || m.get("ops/expiring/dropped") != 1 {
		t.Errorf("metrics = %v, want one dropped per target", m.m)
	}
}

func TestCommandTarget(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "page.sh")
	// Exits 1 on the first run and 0 afterwards, recording env and stdin.
	body := "#!/bin/sh\n" +
		"{ echo \"event=$CERTAGENT_EVENT id=$CERTAGENT_EVENT_ID cert=$CERTAGENT_CERT_NAME path=$PATH\"; cat; echo; } >> " + out + "\n" +
		"[ -e " + out + ".ok ] && exit 0\ntouch " + out + ".ok\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	tg := &config.Notify{Name: "page", Type: "command", Command: []string{script, "--team", "infra"},
		Events: []string{"config_rejected"}, FailureThreshold: 3, Timeout: config.Duration{Duration: 10 * time.Second}}
	clk := &clock{now: t0}
	m := &counts{}
	qdir := filepath.Join(dir, "notify")
	n := newTestNotifier(t, qdir, clk, m, map[string]*config.Notify{"page": tg})
	n.Emit(Event{Kind: "config_rejected", Message: "configuration rejected", Error: "bad key"})
	n.flush(context.Background())
	clk.add(backoffMin)
	n.flush(context.Background())
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 4 {
		t.Fatalf("command ran %d lines, want 2 runs of 2 lines:\n%s", len(lines), data)
	}
	if !strings.HasPrefix(lines[0], "event=config_rejected id=") || lines[0] != lines[2] || !strings.Contains(lines[0], "path=/usr/local/sbin:") {
		t.Errorf("environment lines %q and %q", lines[0], lines[2])
	}
	var b map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &b); err != nil || b["error"] != "bad key" || b["event"] != "config_rejected" {
		t.Errorf("stdin body %q (%v)", lines[1], err)
	}
	if m.get("page/config_rejected/failed") != 1 || m.get("page/config_rejected/delivered") != 1 {
		t.Errorf("metrics = %v, want exit 1 failed then exit 0 delivered", m.m)
	}
	if got := pendingFiles(t, qdir); len(got) != 0 {
		t.Errorf("files left: %v", got)
	}
}

func TestCommandTargetRefusedWhenUntrusted(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "page.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tg := &config.Notify{Name: "page", Type: "command", Command: []string{script},
		Events: []string{"expiring"}, FailureThreshold: 3, Timeout: config.Duration{Duration: 10 * time.Second}}
	clk := &clock{now: t0}
	m := &counts{}
	n := newTestNotifier(t, filepath.Join(dir, "notify"), clk, m, map[string]*config.Notify{"page": tg})
	// After load, the script becomes writable by others: not run.
	if err := os.Chmod(script, 0o757); err != nil {
		t.Fatal(err)
	}
	n.Emit(Event{Kind: "expiring", Cert: "web"})
	n.flush(context.Background())
	if m.get("page/expiring/failed") != 1 || m.get("page/expiring/delivered") != 0 {
		t.Errorf("metrics = %v, want the untrusted command refused and counted failed", m.m)
	}
}

func TestHeadersFileRecheckedBeforeDelivery(t *testing.T) {
	rcv := newReceiver(t)
	hdr := filepath.Join(t.TempDir(), "ops.headers")
	if err := os.WriteFile(hdr, []byte("Authorization: Bearer s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := webhookTarget(rcv.srv.URL)
	tg.HeadersFile = hdr
	clk := &clock{now: t0}
	m := &counts{}
	n := newTestNotifier(t, filepath.Join(t.TempDir(), "notify"), clk, m, map[string]*config.Notify{"ops": tg})
	if err := os.Chmod(hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	n.Emit(Event{Kind: "expiring", Cert: "web"})
	n.flush(context.Background())
	if len(rcv.requests()) != 0 || m.get("ops/expiring/failed") != 1 {
		t.Errorf("a world-readable headers file was used: %d requests, metrics %v", len(rcv.requests()), m.m)
	}
}

// TestWebhookVerifiesTLS: a receiver whose cert chains to no trusted
// root is refused; with its root in ca_bundle the event is delivered.
func TestWebhookVerifiesTLS(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
	}))
	defer srv.Close()
	clk := &clock{now: t0}
	m := &counts{}
	n := newTestNotifier(t, filepath.Join(t.TempDir(), "notify"), clk, m, map[string]*config.Notify{"ops": webhookTarget(srv.URL)})
	n.Emit(Event{Kind: "expiring", Cert: "web"})
	n.flush(context.Background())
	if hits != 0 || m.get("ops/expiring/failed") != 1 {
		t.Fatalf("untrusted TLS receiver: %d requests handled, metrics %v; want refused", hits, m.m)
	}
	bundle := filepath.Join(t.TempDir(), "ca.pem")
	der := srv.Certificate().Raw
	if err := os.WriteFile(bundle, pemCert(der), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := webhookTarget(srv.URL)
	tg.CABundle = bundle
	n.Configure(map[string]*config.Notify{"ops": tg})
	clk.add(backoffMin)
	n.flush(context.Background())
	if hits != 1 || m.get("ops/expiring/delivered") != 1 {
		t.Fatalf("with ca_bundle: %d requests, metrics %v; want delivered", hits, m.m)
	}
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

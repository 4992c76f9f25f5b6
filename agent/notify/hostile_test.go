package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/safefile/hostiletest"
)

// TestWebhookCABundleTrustedAtUse: the service user who can change a
// ca_bundle (their own file, or one reached through their directory)
// could add the root of a receiver of their own, which would then get the
// headers_file token. Such a ca_bundle is refused where it is read, as at
// load, and nothing is sent.
func TestWebhookCABundleTrustedAtUse(t *testing.T) {
	hostiletest.NeedRoot(t)
	var mu sync.Mutex
	var auth []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	defer srv.Close()
	base := t.TempDir()
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	hdr := filepath.Join(base, "ops.headers")
	if err := os.WriteFile(hdr, []byte("Authorization: Bearer s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	user := hostiletest.Dir(t, base, "user")
	inUser := filepath.Join(user, "ca.pem")
	owned := filepath.Join(base, "owned.pem")
	viaLink := filepath.Join(base, "via.pem")
	for _, p := range []string{inUser, owned} {
		if err := os.WriteFile(p, pemCert(srv.Certificate().Raw), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hostiletest.Own(t, owned)
	if err := os.Symlink(inUser, viaLink); err != nil {
		t.Fatal(err)
	}
	for _, bundle := range []string{inUser, owned, viaLink} {
		tg := webhookTarget(srv.URL)
		tg.CABundle, tg.HeadersFile = bundle, hdr
		if _, err := newWebhook(tg); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
			t.Errorf("ca_bundle %s the service user controls: want a refusal naming uid 65534, got %v", bundle, err)
		}
		n := newTestNotifier(t, filepath.Join(t.TempDir(), "notify"), &clock{now: t0}, &counts{}, map[string]*config.Notify{"ops": tg})
		n.Emit(Event{Kind: "expiring", Cert: "web"})
		n.flush(context.Background())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(auth) != 0 {
		t.Errorf("the receiver trusted through a planted ca_bundle got %d requests, headers %q", len(auth), auth)
	}
}

// TestWebhookRedirectCarriesNoHeaders: a receiver that answers with a
// redirect to another host does not get the headers (or the body) sent
// there: the redirect is not followed, the delivery counts as failed and
// is retried at the configured URL. Neither the journal nor the queue on
// disk holds a header value.
func TestWebhookRedirectCarriesNoHeaders(t *testing.T) {
	other := newReceiver(t)
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.srv.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer redirector.Close()
	hdr := filepath.Join(t.TempDir(), "ops.headers")
	if err := os.WriteFile(hdr, []byte("Authorization: Bearer s3cret-auth\nX-Api-Key: s3cret-key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := webhookTarget(redirector.URL)
	tg.HeadersFile = hdr
	var journal strings.Builder // only this goroutine logs: flush runs here
	dir := filepath.Join(t.TempDir(), "notify")
	m := &counts{}
	n := New(Options{Dir: dir, Now: (&clock{now: t0}).Now, Metrics: m, Host: "host-1",
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &journal})})
	n.Configure(map[string]*config.Notify{"ops": tg})
	n.Emit(Event{Kind: "expiring", Cert: "web"})
	n.flush(context.Background())
	if got := other.requests(); len(got) != 0 {
		t.Errorf("the redirect target got %d requests, headers %v", len(got), got[0].header)
	}
	if m.get("ops/expiring/failed") != 1 {
		t.Errorf("a redirect counted as %v, want failed", m.m)
	}
	files := pendingFiles(t, dir)
	if len(files) != 1 {
		t.Fatalf("pending deliveries %v, want the one to retry", files)
	}
	queued, _ := os.ReadFile(filepath.Join(dir, files[0]))
	for what, text := range map[string]string{"journal": journal.String(), "queue file": string(queued)} {
		if strings.Contains(text, "s3cret") {
			t.Errorf("the %s holds a header value:\n%s", what, text)
		}
	}
}

// TestCommandTargetEnvironmentCarriesNoDaemonSecrets: a command target
// gets the documented CERTAGENT_* variables, PATH and LANG, never the
// daemon's own environment (a DNS provider's token, systemd's
// credentials directory).
func TestCommandTargetEnvironmentCarriesNoDaemonSecrets(t *testing.T) {
	t.Setenv("CLOUDFLARE_DNS_API_TOKEN", "s3cret-dns")
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/certagent.service")
	dir := t.TempDir()
	out := filepath.Join(dir, "env")
	script := filepath.Join(dir, "page.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n/usr/bin/env > "+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tg := &config.Notify{Name: "page", Type: "command", Command: []string{script},
		Events: []string{"config_rejected"}, FailureThreshold: 3, Timeout: config.Duration{Duration: 10 * time.Second}}
	m := &counts{}
	n := newTestNotifier(t, filepath.Join(dir, "notify"), &clock{now: t0}, m, map[string]*config.Notify{"page": tg})
	n.Emit(Event{Kind: "config_rejected", Message: "configuration rejected", Error: "bad key"})
	n.flush(context.Background())
	data, err := os.ReadFile(out)
	if err != nil || m.get("page/config_rejected/delivered") != 1 {
		t.Fatalf("command target did not run: %v, metrics %v", err, m.m)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, _, _ := strings.Cut(line, "=")
		if !strings.HasPrefix(k, "CERTAGENT_") && k != "PATH" && k != "LANG" && k != "PWD" {
			t.Errorf("command target environment holds %q", line)
		}
	}
	if strings.Contains(string(data), "s3cret") {
		t.Errorf("command target environment holds the daemon's secret:\n%s", data)
	}
}

// TestWebhookURLPathNotLogged: many receivers (Slack, Teams, Discord)
// put their credential in the URL's path or query. A failed delivery
// names the receiver by scheme and host only: the journal is readable by
// the adm group, and the error is kept in the queue and in metrics logs.
func TestWebhookURLPathNotLogged(t *testing.T) {
	failing := newReceiver(t, http.StatusInternalServerError)
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	for _, base := range []string{failing.srv.URL, gone.URL} {
		var journal strings.Builder // only this goroutine logs: flush runs here
		dir := filepath.Join(t.TempDir(), "notify")
		n := New(Options{Dir: dir, Now: (&clock{now: t0}).Now, Metrics: &counts{}, Host: "host-1",
			Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: &journal})})
		n.Configure(map[string]*config.Notify{"ops": webhookTarget(base + "/services/T0/B0/s3cretPATH?token=s3cretQUERY")})
		n.Emit(Event{Kind: "expiring", Cert: "web"})
		n.flush(context.Background())
		files := pendingFiles(t, dir)
		if len(files) != 1 {
			t.Fatalf("%s: pending deliveries %v, want the one to retry", base, files)
		}
		queued, _ := os.ReadFile(filepath.Join(dir, files[0]))
		if !strings.Contains(journal.String(), "notify_failed") {
			t.Fatalf("%s: no failure logged:\n%s", base, journal.String())
		}
		for what, text := range map[string]string{"journal": journal.String(), "queue file": string(queued)} {
			if strings.Contains(text, "s3cret") {
				t.Errorf("%s: the %s holds the URL's path or query:\n%s", base, what, text)
			}
		}
	}
}

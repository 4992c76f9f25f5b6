package metrics

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/internal/testbin"
)

var (
	notAfter = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // 1772323200
	renewAt  = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC) // 1769904000
)

// scrape GETs /metrics from the handler and returns the exposition text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	return get(t, srv.URL+"/metrics")
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(body)
}

func hasLines(t *testing.T, text string, lines ...string) {
	t.Helper()
	have := strings.Split(text, "\n")
	for _, l := range lines {
		if !slices.Contains(have, l) {
			t.Errorf("scrape lacks line %q", l)
		}
	}
}

func lacks(t *testing.T, text string, substrs ...string) {
	t.Helper()
	for _, s := range substrs {
		if strings.Contains(text, s) {
			t.Errorf("scrape still has %q", s)
		}
	}
}

func TestScrapeServesDocumentedSeries(t *testing.T) {
	m := New()
	m.SetCert("web", notAfter, renewAt, "expiring")
	m.Renewal("web", ResultFailure)
	m.Renewal("web", ResultFailure)
	m.UnitAction("nginx.service", "reload", "success")
	m.ExternalChange("web", "permissions")
	m.PassCompleted(time.Unix(1700000000, 500_000_000))
	text := scrape(t, m)
	hasLines(t, text,
		`certagent_cert_not_after_timestamp_seconds{cert="web"} 1.7723232e+09`,
		`certagent_cert_next_renewal_timestamp_seconds{cert="web"} 1.769904e+09`,
		`certagent_cert_state{cert="web",state="expiring"} 1`,
		`certagent_cert_state{cert="web",state="ok"} 0`,
		`certagent_cert_state{cert="web",state="failed"} 0`,
		`certagent_renewals_total{cert="web",result="failure"} 2`,
		`certagent_renewals_total{cert="web",result="success"} 0`,
		`certagent_unit_actions_total{action="reload",result="success",unit="nginx.service"} 1`,
		`certagent_external_changes_total{cert="web",kind="permissions"} 1`,
		`certagent_last_pass_timestamp_seconds 1.7000000005e+09`,
		`certagent_watch_degraded 0`,
		`# TYPE certagent_renewals_total counter`,
		`# TYPE certagent_cert_state gauge`,
	)
	if !strings.Contains(text, "\ngo_goroutines ") || !strings.Contains(text, "\nprocess_resident_memory_bytes ") {
		t.Error("scrape lacks the Go/process collectors")
	}
}

func TestWatchDegraded(t *testing.T) {
	m := New()
	m.WatchDegraded(true)
	hasLines(t, scrape(t, m), `certagent_watch_degraded 1`, `# TYPE certagent_watch_degraded gauge`)
	m.WatchDegraded(false)
	hasLines(t, scrape(t, m), `certagent_watch_degraded 0`)
}

func TestSetCertTransitionsAndDelete(t *testing.T) {
	m := New()
	m.SetCert("web", notAfter, renewAt, "ok")
	m.SetCert("web", notAfter, renewAt, "renewing")
	m.SetCert("db", time.Time{}, time.Time{}, "missing")
	text := scrape(t, m)
	hasLines(t, text,
		`certagent_cert_state{cert="web",state="renewing"} 1`,
		`certagent_cert_state{cert="web",state="ok"} 0`,
		`certagent_cert_state{cert="db",state="missing"} 1`,
	)
	// Zero times remove the series instead of publishing the epoch.
	lacks(t, text, `certagent_cert_not_after_timestamp_seconds{cert="db"}`,
		`certagent_cert_next_renewal_timestamp_seconds{cert="db"}`)

	// An unknown state is published, then replaced, never left behind.
	m.SetCert("web", notAfter, time.Time{}, "quarantined")
	hasLines(t, scrape(t, m), `certagent_cert_state{cert="web",state="quarantined"} 1`,
		`certagent_cert_state{cert="web",state="renewing"} 0`)
	m.SetCert("web", notAfter, renewAt, "ok")
	text = scrape(t, m)
	lacks(t, text, `state="quarantined"`)
	hasLines(t, text, `certagent_cert_state{cert="web",state="ok"} 1`)

	m.ExternalChange("web", "deleted")
	m.Renewal("web", ResultSuccess)
	m.DeleteCert("web")
	text = scrape(t, m)
	lacks(t, text, `cert="web"`)
	hasLines(t, text, `certagent_cert_state{cert="db",state="missing"} 1`)
}

// TestEverySeriesIsDocumented keeps docs/metrics.md and the alert rules
// honest: every certagent_* family is documented, and every certagent_*
// name the docs or the alerts mention exists.
func TestEverySeriesIsDocumented(t *testing.T) {
	m := New()
	m.SetCert("web", notAfter, renewAt, "ok")
	m.UnitAction("u.service", "restart", "success")
	m.ExternalChange("web", "modified")
	m.Revocation("web", "keyCompromise", ResultSuccess)
	m.Notification("ops", "expiring", "delivered")
	m.PassCompleted(notAfter)
	m.SetCertIssuer("web", "le")
	registered := map[string]bool{}
	for _, line := range strings.Split(scrape(t, m), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE certagent_"); ok {
			registered["certagent_"+strings.Fields(name)[0]] = true
		}
	}
	if len(registered) != 11 {
		t.Errorf("registered certagent families = %d, want the 7 of the issue, revocations, notifications, certagent_watch_degraded and certagent_cert_issuer: %v", len(registered), registered)
	}
	docs := readFile(t, "../../docs/metrics.md")
	for name := range registered {
		if !strings.Contains(docs, "### `"+name+"{") && !strings.Contains(docs, "### `"+name+"`") {
			t.Errorf("docs/metrics.md has no section for %s", name)
		}
	}
	for _, s := range States {
		if !strings.Contains(docs, "| `"+s+"` |") {
			t.Errorf("docs/metrics.md does not explain state %q", s)
		}
	}
	nameRE := regexp.MustCompile(`certagent_[a-z_]+`)
	for _, file := range []string{"../../docs/metrics.md", "../../examples/alerts.yml"} {
		for _, name := range nameRE.FindAllString(readFile(t, file), -1) {
			if !registered[name] {
				t.Errorf("%s mentions %s, which is not a registered family", file, name)
			}
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHandlerServesOnlyGETMetrics(t *testing.T) {
	srv := httptest.NewServer(New().Handler())
	defer srv.Close()
	for _, tc := range []struct {
		method, path string
		want         int
	}{
		{http.MethodGet, "/metrics", http.StatusOK},
		{http.MethodHead, "/metrics", http.StatusOK},
		{http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{http.MethodGet, "/", http.StatusNotFound},
		{http.MethodGet, "/debug/pprof/", http.StatusNotFound},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9610", "127.1.2.3:1", "[::1]:9610", "localhost:9610"} {
		if err := CheckListen(addr, false); err != nil {
			t.Errorf("CheckListen(%q) = %v, want loopback accepted", addr, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:9610", ":9610", "[::]:9610", "192.0.2.7:9610", "example.com:9610"} {
		err := CheckListen(addr, false)
		if err == nil || !strings.Contains(err.Error(), "metrics_allow_remote = true") {
			t.Errorf("CheckListen(%q) = %v, want a refusal naming metrics_allow_remote", addr, err)
		}
		if err := CheckListen(addr, true); err != nil {
			t.Errorf("CheckListen(%q, allowRemote) = %v", addr, err)
		}
	}
	if err := CheckListen("9610", false); err == nil || !strings.Contains(err.Error(), "host:port") {
		t.Errorf("CheckListen without a port separator = %v, want a host:port hint", err)
	}
}

func TestServeRefusesRemoteWithoutFlag(t *testing.T) {
	err := New().Serve(t.Context(), "0.0.0.0:0", false, nil)
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Serve(0.0.0.0:0) = %v, want a refusal", err)
	}
}

func TestServeOnLoopbackAndStopOnCancel(t *testing.T) {
	m := New()
	m.SetCert("web", notAfter, renewAt, "ok")
	var logs testbin.SyncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Output: &logs, JSONFormat: true, Level: hclog.Debug})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, "127.0.0.1:0", false, logger) }()

	var addr string
	for deadline := time.Now().Add(5 * time.Second); addr == "" && time.Now().Before(deadline); {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct {
				Msg  string `json:"@message"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics" {
				addr = rec.Addr
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("no \"serving metrics\" log entry with the address; logs:\n%s", logs.String())
	}
	hasLines(t, get(t, "http://"+addr+"/metrics"), `certagent_cert_state{cert="web",state="ok"} 1`)

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatal("still serving after Serve returned")
	}
}

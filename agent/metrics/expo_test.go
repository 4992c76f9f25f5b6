package metrics

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// fullScrape is a Metrics with every family holding series, including
// label values that need escaping.
func fullScrape(t *testing.T) string {
	t.Helper()
	m := New()
	m.SetCert("web", notAfter, renewAt, "ok")
	m.SetCert(`odd"name\with`+"\nnewline", notAfter, renewAt, "failed")
	m.Renewal("web", ResultSuccess)
	m.UnitAction("nginx.service", "reload", "success")
	m.ExternalChange("web", "modified")
	m.Revocation("web", "keyCompromise", ResultSuccess)
	m.Notification("ops", "expiring", "delivered")
	m.PassCompleted(time.Unix(1700000000, 0))
	m.SetCertIssuer("web", "le")
	return scrape(t, m)
}

// TestExpositionPassesPromtool feeds a scrape to Prometheus's own parser
// and linter (`promtool check metrics`), which rejects malformed lines,
// bad escapes, duplicate or misplaced HELP/TYPE and counters without
// _total.
func TestExpositionPassesPromtool(t *testing.T) {
	text := fullScrape(t)
	cmd := exec.Command(promtool(t), "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\nscrape:\n%s", err, out, text)
	}
}

func TestExpositionEscapesAndOrders(t *testing.T) {
	text := fullScrape(t)
	hasLines(t, text,
		`certagent_cert_state{cert="odd\"name\\with\nnewline",state="failed"} 1`,
		`# HELP certagent_watch_degraded 1 while inotify is unavailable and file changes are found by polling, else 0.`,
		`certagent_cert_issuer{cert="web",issuer="le"} 1`,
		`certagent_notifications_total{event="expiring",result="delivered",target="ops"} 1`,
		`certagent_revocations_total{cert="web",reason="keyCompromise",result="success"} 1`,
	)
	// Families come in name order, each with HELP and TYPE once.
	var names []string
	for _, line := range strings.Split(text, "\n") {
		if n, ok := strings.CutPrefix(line, "# TYPE "); ok {
			names = append(names, strings.Fields(n)[0])
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Errorf("family %s after %s", names[i], names[i-1])
		}
	}
	// Within a family, series are ordered by label values.
	if strings.Index(text, `certagent_cert_state{cert="odd`) > strings.Index(text, `certagent_cert_state{cert="web"`) {
		t.Error(`series of cert "odd…" come after "web"`)
	}
}

func TestExpositionRuntimeSeries(t *testing.T) {
	text := fullScrape(t)
	for _, name := range []string{"go_goroutines", "go_threads", "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes",
		"go_gc_duration_seconds_count", "process_cpu_seconds_total", "process_resident_memory_bytes",
		"process_open_fds", "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"} {
		if !strings.Contains(text, "\n"+name+" ") {
			t.Errorf("scrape lacks %s", name)
		}
	}
	if !strings.Contains(text, "\ngo_info{version=\"go") {
		t.Error("scrape lacks go_info")
	}
}

func TestHandlerGzipAndContentType(t *testing.T) {
	m := New()
	m.SetCert("web", notAfter, renewAt, "ok")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decompression
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", resp.Header.Get("Content-Encoding"))
	}
	body, _ := io.ReadAll(resp.Body)
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	hasLines(t, string(plain), `certagent_cert_state{cert="web",state="ok"} 1`)
}

func TestFamilyDeleteMatching(t *testing.T) {
	f := newFamily(typeCounter, "x_total", "h", "cert", "kind")
	f.add(1, "a", "k1")
	f.add(2, "a", "k2")
	f.add(3, "b", "k1")
	f.deleteMatching("cert", "a")
	if _, ok := f.value("a", "k1"); ok {
		t.Error("a/k1 survived deleteMatching")
	}
	if v, ok := f.value("b", "k1"); !ok || v != 3 {
		t.Errorf("b/k1 = %v, %v; want 3, true", v, ok)
	}
}

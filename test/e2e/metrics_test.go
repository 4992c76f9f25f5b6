package e2e

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMetricsEndpoint: opt-in, loopback by default, serves the documented
// series; a non-loopback address is refused without metrics_allow_remote.
func TestMetricsEndpoint(t *testing.T) {
	e := newEnv(t)
	addr := "127.0.0.1:" + freePort(t)
	e.WriteConfig(t, strings.Replace(managedAndWatched, "[agent]\n", "[agent]\nmetrics_listen = \""+addr+"\"\n", 1))
	selfSigned(t, e.Path("legacy/live/fullchain.pem"), e.Path("legacy/live/privkey.pem"), "legacy.example.com")
	d := startDaemon(t, e)
	d.Await(1, 20*time.Second, "event=issued")
	var body string
	scrapeUntil := func(_, series string) {
		t.Helper()
		body = scrape(t, addr, series)
	}
	// The renewal is counted when it happens, the cert's gauges when the
	// pass publishes its rows a moment later: wait for each series.
	for _, series := range []string{
		`certagent_renewals_total{cert="web",result="success"} 1`,
		`certagent_cert_not_after_timestamp_seconds{cert="web"}`,
		`certagent_cert_next_renewal_timestamp_seconds{cert="web"}`,
		`certagent_cert_state{cert="web",state="ok"} 1`,
		`certagent_last_pass_timestamp_seconds`,
		`certagent_cert_state{cert="watch:legacy",state="ok"} 1`,
	} {
		scrapeUntil("a scrape", series)
	}
	if strings.Contains(body, "PRIVATE KEY") {
		t.Error("metrics expose key material")
	}

	// External changes are counted with the documented kinds only, not
	// with whatever problem name the inspection found.
	if err := os.Chmod(e.Path("web/key.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	scrapeUntil("a permissions change counted", `certagent_external_changes_total{cert="web",kind="permissions"} 1`)
	if err := os.Remove(e.Path("web/key.pem")); err != nil {
		t.Fatal(err)
	}
	scrapeUntil("a deletion counted", `certagent_external_changes_total{cert="web",kind="deleted"} 1`)
	selfSigned(t, e.Path("legacy/live/fullchain.pem"), e.Path("legacy/live/privkey.pem"), "legacy.example.com")
	scrapeUntil("a watch-only replacement counted", `certagent_external_changes_total{cert="watch:legacy",kind="replaced"} 1`)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "certagent_external_changes_total{") &&
			!regexp.MustCompile(`kind="(deleted|modified|permissions|replaced)"`).MatchString(line) {
			t.Errorf("undocumented kind: %s", line)
		}
	}

	remote := newEnv(t)
	remote.WriteConfig(t, strings.Replace(managedAndWatched, "[agent]\n", "[agent]\nmetrics_listen = \"0.0.0.0:9610\"\n", 1))
	r := certagent(t, "check", "--config", remote.Config)
	if r.code != 2 || !strings.Contains(r.stderr, "metrics_listen") || !strings.Contains(r.stderr, "metrics_allow_remote") {
		t.Fatalf("non-loopback metrics_listen: exit %d, stderr %q; want exit 2 naming metrics_allow_remote", r.code, r.stderr)
	}
}

package e2e

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// scrape returns the daemon's /metrics once it holds series.
func scrape(t *testing.T, addr, series string) string {
	t.Helper()
	var body string
	testbin.Eventually(t, 10*time.Second, "metrics with "+series, func() bool {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200 && strings.Contains(body, series)
	})
	return body
}

// TestRevokeRunsInTheDaemon: beside a running daemon, `certagent revoke`
// is done by the daemon over the control socket: the terminal gets the
// daemon's log lines of the request, the daemon's journal has the
// revocation and the replacement, and the daemon's revocation counter
// moves. --local revokes in-process and leaves the daemon's counter.
func TestRevokeRunsInTheDaemon(t *testing.T) {
	e := newEnv(t)
	addr := "127.0.0.1:" + freePort(t)
	cfg := strings.ReplaceAll(controlConfig, "{{run}}", filepath.Join(e.Dir, "run"))
	cfg = strings.Replace(cfg, "[agent]\n", "[agent]\nmetrics_listen = \""+addr+"\"\n", 1)
	cfg = cfg[:strings.Index(cfg, "[certs.vault]")] + "crl_file = \"{{out}}/ca.crl\"\n"
	e.WriteConfig(t, cfg)
	d := startDaemon(t, e)
	d.Await(1, 30*time.Second, "cert=web issuer=ca event=issued")
	before := strings.ToLower(strings.TrimPrefix(serialOfFile(t, e.Path("web.pem")), "serial="))

	r := ctl(t, "revoke", "web", "--reason", "superseded", "--config", e.Config)
	if r.code != 0 {
		t.Fatalf("revoke through the daemon: exit %d\n%s", r.code, r.stderr)
	}
	wantIn(t, "the terminal (the daemon's log lines)", r.stderr, "certificate revoked: cert=web", "event=revoked",
		"reason=superseded", "serial="+before, "event=renewed", "event=crl_updated")
	d.Await(1, 10*time.Second, "event=control_request op=revoke names=web")
	d.Await(1, 10*time.Second, "cert=web issuer=ca reason=superseded event=revoked serial="+before)
	if after := strings.ToLower(strings.TrimPrefix(serialOfFile(t, e.Path("web.pem")), "serial=")); after == before {
		t.Errorf("the daemon's revoke deployed no replacement (serial %s)", after)
	}
	scrape(t, addr, `certagent_revocations_total{cert="web",reason="superseded",result="success"} 1`)

	// --local works in this process: the daemon hears nothing of it.
	r = ctl(t, "revoke", "web", "--local", "--no-reissue", "--config", e.Config)
	if r.code != 0 {
		t.Fatalf("revoke --local: exit %d\n%s", r.code, r.stderr)
	}
	if n := d.Count("op=revoke"); n != 1 {
		t.Errorf("--local reached the daemon (%d revoke requests)", n)
	}
	body := scrape(t, addr, `certagent_revocations_total{cert="web",reason="superseded",result="success"} 1`)
	if strings.Contains(body, `reason="unspecified"`) {
		t.Errorf("the in-process revoke moved the daemon's counter:\n%s", body)
	}
}

func wantIn(t *testing.T, what, text string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(text, s) {
			t.Errorf("%s lacks %q:\n%s", what, s, text)
		}
	}
}

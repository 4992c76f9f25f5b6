package config

import (
	"strings"
	"testing"
)

// notifyBase is a valid config the notify tests add a [notify.ops] to.
const notifyBase = mainTOML

// TestNotifyDefaults: a target without events gets every emitted event
// failure_threshold 3 and a 30s
// timeout.
func TestNotifyDefaults(t *testing.T) {
	c, err := Parse("n.toml", []byte(notifyBase+"[notify.ops]\ntype = \"webhook\"\nurl = \"https://hooks.example.com/x\"\n"),
		Options{SkipFileChecks: true})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Notify["ops"]
	if got := strings.Join(n.Events, ","); got != "renewal_failed,expiring,rolled_back,config_rejected,revoked,needs_token" {
		t.Errorf("default events = %s", got)
	}
	if n.FailureThreshold != 3 || n.Timeout.Duration.String() != "30s" || n.Name != "ops" {
		t.Errorf("defaults: %+v", n)
	}
}

func TestWebhookURLRules(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://hooks.example.com/x":    true,
		"http://127.0.0.1:9000/x":        true,
		"http://localhost/x":             true,
		"http://[::1]:80/x":              true,
		"http://10.0.0.1/x":              false,
		"https://user:pw@hooks.example/": false,
		"ftp://hooks.example.com/":       false,
		"hooks.example.com":              false,
	} {
		ve := checkWebhookURL(url)
		if (ve == nil) != ok {
			t.Errorf("checkWebhookURL(%q) = %v, want ok=%v", url, ve, ok)
		}
	}
}

// TestFutureEventsAcceptedUnknownRefused: revoked and needs_token are in
// the one list and accepted; a name outside it is an error with its line.
func TestFutureEventsAcceptedUnknownRefused(t *testing.T) {
	good := notifyBase + "[notify.ops]\ntype = \"webhook\"\nurl = \"https://h.example/x\"\nevents = [\"revoked\", \"needs_token\"]\n"
	if _, err := Parse("n.toml", []byte(good), Options{SkipFileChecks: true}); err != nil {
		t.Errorf("future events refused: %v", err)
	}
	bad := notifyBase + "[notify.ops]\ntype = \"webhook\"\nurl = \"https://h.example/x\"\nevents = [\"revokd\"]\n"
	_, err := Parse("n.toml", []byte(bad), Options{SkipFileChecks: true})
	if err == nil || !strings.Contains(err.Error(), `n.toml:16: notify target "ops": key "events": unknown event "revokd"`) {
		t.Errorf("unknown event: %v", err)
	}
}

func TestParseHeaders(t *testing.T) {
	h, err := ParseHeaders([]byte("# c\n\nauthorization: Bearer x:y\nX-Team:  infra \n"))
	if err != nil || h["Authorization"] != "Bearer x:y" || h["X-Team"] != "infra" || len(h) != 2 {
		t.Errorf("ParseHeaders = %v, %v", h, err)
	}
	if _, err := ParseHeaders([]byte("Bearer s3cret\n")); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad line: %v (must fail without quoting the value)", err)
	}
}

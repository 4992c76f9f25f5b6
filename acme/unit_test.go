package acme

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	legoacme "github.com/go-acme/lego/v4/acme"
	legolog "github.com/go-acme/lego/v4/log"
	"github.com/hashicorp/go-hclog"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
)

// TestConfigRejectsBadACMEKeys: agent/config, the one place that
// validates, rejects each bad ACME setting with its issuer and key named
// (New trusts what it is given), and fills the defaults New relies on.
func TestConfigRejectsBadACMEKeys(t *testing.T) {
	dir := t.TempDir()
	loose := filepath.Join(dir, "loose")
	if err := os.WriteFile(loose, []byte("K=v\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const base = "[issuers.le]\ntype = \"acme\"\n"
	cases := []struct {
		name, toml, key, want string
	}{
		{"no directory", "", "directory", "missing ACME directory URL"},
		{"http directory", `directory = "http://ca/dir"`, "directory", "is not https"},
		{"bad challenge", `challenge = "dns-02"`, "challenge", `"dns-02"`},
		{"unknown provider", `challenge = "dns-01"` + "\n" + `dns_provider = "nope"`, "dns_provider", `unknown dns provider "nope"`},
		{"loose env file", `challenge = "dns-01"` + "\n" + `dns_provider = "exec"` + "\n" + `dns_env_file = "` + loose + `"`, "dns_env_file", "chmod 0600"},
		{"bad resolver", `challenge = "dns-01"` + "\n" + `dns_provider = "exec"` + "\n" + `dns_resolvers = ["1.2.3.4"]`, "dns_resolvers", ""},
		{"eab half", `eab_kid = "k"`, "eab_hmac_file", "eab_kid is set but eab_hmac_file is not"},
		{"loose hmac", `eab_kid = "k"` + "\n" + `eab_hmac_file = "` + loose + `"`, "eab_hmac_file", "chmod 0600"},
		{"missing webroot", `webroot = "` + filepath.Join(dir, "none") + `"`, "webroot", "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := base + tc.toml + "\n"
			if tc.key != "directory" {
				doc += `directory = "https://ca.example/dir"` + "\n"
			}
			_, err := config.Parse("t.toml", []byte(doc), config.Options{KnownDNSProvider: KnownDNSProvider})
			var es *config.Errors
			if !errors.As(err, &es) {
				t.Fatalf("got %v, want *config.Errors", err)
			}
			for _, e := range *es {
				if e.Section == `issuer "le"` && e.Key == tc.key && strings.Contains(e.Error(), tc.want) {
					return
				}
			}
			t.Fatalf("got %v, want an error on issuer \"le\" key %q containing %q", err, tc.key, tc.want)
		})
	}
	c, err := config.Parse("t.toml", []byte(base+`directory = "https://ca.example/dir"`+"\n"), config.Options{KnownDNSProvider: KnownDNSProvider})
	if c == nil || c.Issuers["le"] == nil {
		t.Fatalf("parse: %v", err)
	}
	i, err := New("le", c.Issuers["le"], dir, nil)
	if err != nil || i.cfg.Challenge != ChallengeHTTP01 || i.cfg.HTTPListen != ":80" || i.cfg.MaxConcurrent != config.DefaultMaxConcurrent {
		t.Fatalf("defaults: %v %+v", err, i)
	}
}

func TestReadEnvFileNeverEchoesValues(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env")
	content := "# c\n\nexport A=1\nB=\"two words\"\nC='x'\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(p)
	if err != nil || got["A"] != "1" || got["B"] != "two words" || got["C"] != "x" {
		t.Fatalf("got %v, %v", got, err)
	}
	if err := os.WriteFile(p, []byte("A=1\nsecret-token-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = readEnvFile(p)
	if err == nil || !strings.Contains(err.Error(), ":2:") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("got %v, want line 2 named and the value not shown", err)
	}
}

func TestSetEnvRestores(t *testing.T) {
	t.Setenv("CERTAGENT_T_KEEP", "old")
	restore := setEnv(map[string]string{"CERTAGENT_T_KEEP": "new", "CERTAGENT_T_NEW": "x"})
	if os.Getenv("CERTAGENT_T_KEEP") != "new" || os.Getenv("CERTAGENT_T_NEW") != "x" {
		t.Fatal("not set")
	}
	restore()
	if _, ok := os.LookupEnv("CERTAGENT_T_NEW"); ok || os.Getenv("CERTAGENT_T_KEEP") != "old" {
		t.Fatal("not restored")
	}
}

func TestMapErrorRateLimited(t *testing.T) {
	prob := &legoacme.ProblemDetails{Type: legoacme.RateLimitedErr, Detail: "too many certificates", HTTPStatus: 429}
	err := mapError("order certificate", fmt.Errorf("wrapped: %w", &legoacme.RateLimitedError{ProblemDetails: prob, RetryAfter: "120"}))
	until, ok := agent.RetryAfter(err)
	if !ok || time.Until(until) < 110*time.Second || time.Until(until) > 121*time.Second {
		t.Fatalf("RetryAfter = %v, %v (err %v)", until, ok, err)
	}
	var pe *ProblemError
	if !errors.As(err, &pe) || pe.Type != legoacme.RateLimitedErr || !strings.Contains(err.Error(), "too many certificates") {
		t.Fatalf("problem not kept: %v", err)
	}
	// Without Retry-After it is an ordinary problem (core backoff).
	err = mapError("order", &legoacme.RateLimitedError{ProblemDetails: prob})
	if _, ok := agent.RetryAfter(err); ok {
		t.Fatal("RetryAfterError without Retry-After")
	}
	if err := mapError("x", errors.New("boom")); err.Error() != "x: boom" {
		t.Fatal(err)
	}
}

func TestInitRoutesLegoLogLevels(t *testing.T) {
	var buf bytes.Buffer
	Init(hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Info}))
	legolog.Infof("hello %d", 1)
	legolog.Warnf("careful")
	out := buf.String()
	if !strings.Contains(out, "[INFO]  acme: hello 1") || !strings.Contains(out, "[WARN]  acme: careful") {
		t.Fatalf("log output:\n%s", out)
	}
}

func TestKnownDNSProvider(t *testing.T) {
	for _, n := range []string{"exec", "httpreq", "pdns", "cloudflare"} {
		if !KnownDNSProvider(n) {
			t.Errorf("%s unknown", n)
		}
	}
	if KnownDNSProvider("no-such-provider") {
		t.Error("no-such-provider known")
	}
}

func TestWebrootRejectsBadToken(t *testing.T) {
	w := newWebrootProvider(t.TempDir())
	if err := w.Present("d", "../../etc/x", "ka"); err == nil {
		t.Fatal("path traversal token accepted")
	}
}

func TestResponderRefCount(t *testing.T) {
	r := newHTTPResponder("127.0.0.1:0")
	if err := r.add("a", "t1", "k1"); err != nil {
		t.Fatal(err)
	}
	if err := r.add("b", "t2", "k2"); err != nil {
		t.Fatal(err)
	}
	r.remove("t1")
	r.remove("t1") // twice is harmless
	if r.stop == nil {
		t.Fatal("listener closed while a token is pending")
	}
	r.remove("t2")
	if r.stop != nil || r.listens.Load() != 1 {
		t.Fatalf("stop=%v listens=%d", r.stop != nil, r.listens.Load())
	}
}

// TestServerHint: a Retry-After on 503 or 429 turns the call's error into
// a RetryAfterError (capped), other statuses and bad headers do not, and
// rateLimited's own uncapped time wins over the hint.
func TestServerHint(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	httpDate := time.Now().Add(90 * time.Second).Format(http.TimeFormat) // lego measures it from the real clock
	cases := []struct {
		name   string
		status int
		header string
		want   time.Duration // 0: no RetryAfterError
	}{
		{"503 seconds", http.StatusServiceUnavailable, "120", 120 * time.Second},
		{"503 http-date", http.StatusServiceUnavailable, httpDate, 90 * time.Second},
		{"429 not rateLimited", http.StatusTooManyRequests, "30", 30 * time.Second},
		{"503 capped", http.StatusServiceUnavailable, "864000", maxServerRetryAfter},
		{"503 without header", http.StatusServiceUnavailable, "", 0},
		{"503 garbage header", http.StatusServiceUnavailable, "soon", 0},
		{"500 ignored", http.StatusInternalServerError, "120", 0},
		{"200 ignored", http.StatusOK, "120", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := &serverHint{now: func() time.Time { return now }}
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.header != "" {
				resp.Header.Set("Retry-After", tc.header)
			}
			h.note(resp)
			err := h.wrap(errors.New("order certificate: boom"))
			until, ok := agent.RetryAfter(err)
			if tc.want == 0 {
				if ok {
					t.Fatalf("RetryAfterError until %s, want none", until)
				}
				return
			}
			// An HTTP-date has whole seconds and is measured from the real clock.
			if !ok || until.Sub(now) < tc.want-2*time.Second || until.Sub(now) > tc.want {
				t.Fatalf("retry after %v (%v), want %s", until.Sub(now), ok, tc.want)
			}
			if !strings.Contains(err.Error(), "boom") {
				t.Errorf("error lost its cause: %v", err)
			}
		})
	}
	h := &serverHint{now: func() time.Time { return now }}
	h.note(&http.Response{StatusCode: http.StatusServiceUnavailable, Header: http.Header{"Retry-After": {"60"}}})
	own := &agent.RetryAfterError{Until: now.Add(72 * time.Hour), Err: errors.New("rate limited")}
	if got, _ := agent.RetryAfter(h.wrap(own)); !got.Equal(own.Until) {
		t.Errorf("hint replaced rateLimited's retry time: %s", got)
	}
	if (*serverHint)(nil).wrap(nil) != nil {
		t.Error("nil hint changed a nil error")
	}
}

package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/internal/capped"
	"github.com/certagent/certagent/internal/trust"
)

// sender delivers one event to one target. Contract: it returns nil only
// when the target acknowledged the event (a 2xx answer, exit code 0), and
// returns within the target's timeout or when ctx ends.
type sender interface {
	send(ctx context.Context, ev Event) error
}

// newSender builds the transport of a validated target.
func newSender(t *config.Notify) (sender, error) {
	switch t.Type {
	case "webhook":
		return newWebhook(t)
	case "command":
		return &command{argv: t.Command, timeout: t.Timeout.Duration}, nil
	}
	return nil, fmt.Errorf("unknown notify type %q", t.Type)
}

// webhook POSTs the JSON body with TLS verification on. Redirects are
// not followed: they would carry the headers (often a token) elsewhere.
type webhook struct {
	url string
	// site is the URL's scheme and host, which errors name: receivers
	// (Slack, Teams) often put their credential in the path or query,
	// and errors reach the journal and the queue.
	site        string
	headersFile string
	client      *http.Client
}

// maxBundle bounds the ca_bundle and headers_file reads.
const maxBundle = 4 << 20

func newWebhook(t *config.Notify) (*webhook, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a root daemon does not pick up a proxy from its environment
	if t.CABundle != "" {
		// The roots that decide who receives the headers: read only
		// through a path no other user can change (the load-time rule).
		pem, err := trust.ReadTrusted(t.CABundle, maxBundle)
		if err != nil {
			return nil, fmt.Errorf("ca_bundle: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_bundle %s holds no PEM certificate", t.CABundle)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	site := "webhook"
	if u, err := url.Parse(t.URL); err == nil {
		site = u.Scheme + "://" + u.Host
	}
	return &webhook{url: t.URL, site: site, headersFile: t.HeadersFile, client: &http.Client{
		Transport: tr,
		Timeout:   t.Timeout.Duration,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}, nil
}

func (w *webhook) send(ctx context.Context, ev Event) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(encodeBody(ev)))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "certagent")
	req.Header.Set("Idempotency-Key", ev.ID)
	req.Header.Set("X-Certagent-Event", ev.Kind)
	if w.headersFile != "" {
		h, err := readHeaders(w.headersFile)
		if err != nil {
			return err
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text quotes the whole URL
		}
		return fmt.Errorf("%s: %w", w.site, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s answered %s", w.site, resp.Status)
	}
	return nil
}

// readHeaders reads the credential file again before each delivery, with
// the rule `certagent check` applies at load: a rotated token takes
// effect at once, and a file that became readable by others, or whose
// path became writable by another user, is refused.
func readHeaders(p string) (map[string]string, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return nil, fmt.Errorf("headers_file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("headers_file %s is not a private regular file (mode %04o); not sent", p, perm)
	}
	if _, err := trust.CheckPath(p); err != nil {
		return nil, fmt.Errorf("headers_file: %w", err)
	}
	data, err := trust.ReadTrusted(p, maxBundle)
	if err != nil {
		return nil, fmt.Errorf("headers_file: %w", err)
	}
	h, err := config.ParseHeaders(data)
	if err != nil {
		return nil, fmt.Errorf("headers_file %s: %w", p, err)
	}
	return h, nil
}

// command runs a program without a shell, the event in its environment
// and the JSON body on stdin. The hook trust rule applies right before
// each run, as at load.
type command struct {
	argv    []string
	timeout time.Duration
}

func (c *command) send(ctx context.Context, ev Event) error {
	if err := trust.CheckCommand(c.argv); err != nil {
		return fmt.Errorf("not run: its files fail the trust check: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Env = commandEnv(ev)
	cmd.Stdin = bytes.NewReader(encodeBody(ev))
	out := capped.New(512) // what an error quotes; the rest is dropped as it comes
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		text := strings.TrimSpace(out.String())
		if text != "" {
			return fmt.Errorf("%w: %s", err, text)
		}
		return err
	}
	return nil
}

// commandEnv is the documented environment of a command target.
func commandEnv(ev Event) []string {
	env := []string{
		"PATH=" + trust.HookPATH,
		"LANG=" + os.Getenv("LANG"),
		"CERTAGENT_EVENT=" + ev.Kind,
		"CERTAGENT_EVENT_ID=" + ev.ID,
		"CERTAGENT_CERT_NAME=" + ev.Cert,
		"CERTAGENT_SOURCE=" + ev.Source,
		"CERTAGENT_TIME=" + ev.Time.UTC().Format(time.RFC3339),
		"CERTAGENT_MESSAGE=" + oneLine(ev.Message),
		"CERTAGENT_SERIAL=" + ev.Serial,
		"CERTAGENT_FAILURES=" + strconv.Itoa(ev.Failures),
		"CERTAGENT_ERROR=" + oneLine(ev.Error),
	}
	if !ev.NotAfter.IsZero() {
		env = append(env, "CERTAGENT_NOT_AFTER="+ev.NotAfter.UTC().Format(time.RFC3339))
	}
	return env
}

func oneLine(s string) string { return strings.NewReplacer("\n", " ", "\x00", "").Replace(s) }

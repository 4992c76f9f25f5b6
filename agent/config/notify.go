package config

import (
	"bufio"
	"bytes"
	"fmt"
	"net/textproto"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/internal/trust"
)

// maxHeadersFile bounds a headers_file read: a few header lines.
const maxHeadersFile = 64 << 10

// Notify is one [notify.NAME] table: where certagent tells a person about
// an event (docs/notifications.md). Type selects which keys apply.
type Notify struct {
	Name string `toml:"-"`
	Type string `toml:"type"` // webhook | command

	// type = "webhook"
	URL         string `toml:"url"`
	HeadersFile string `toml:"headers_file"` // "Name: value" lines, a credential file
	CABundle    string `toml:"ca_bundle"`    // extra roots; the system roots are always trusted

	// type = "command"
	Command []string `toml:"command"`

	Events           []string `toml:"events"`
	FailureThreshold int      `toml:"failure_threshold"` // renewal_failed after this many consecutive failures
	Timeout          Duration `toml:"timeout"`
}

// NotifyEvent describes one event name a [notify.NAME] table may
// subscribe to.
type NotifyEvent struct {
	Name string
	// Emitted is false for events of features this build does not have
	// yet: subscribing is accepted so that configs can be written ahead,
	// and the target starts receiving them once the feature is present.
	Emitted bool
}

// NotifyEvents is the one list of event names: a name outside it is a
// config error. To add an event, add it here, emit it from the agent
// (agent/events.go) and document it in docs/notifications.md.
var NotifyEvents = []NotifyEvent{
	{"renewal_failed", true},
	{"expiring", true},
	{"rolled_back", true},
	{"config_rejected", true},
	{"revoked", true},
	{"needs_token", true},
}

// Notification defaults, documented in docs/configuration.md.
const (
	DefaultFailureThreshold = 3
	DefaultNotifyTimeout    = 30 * time.Second
)

// emittedEvents lists the events subscribed to when events is unset.
func emittedEvents() []string {
	var out []string
	for _, e := range NotifyEvents {
		if e.Emitted {
			out = append(out, e.Name)
		}
	}
	return out
}

func notifyEventNames() []string {
	out := make([]string, 0, len(NotifyEvents))
	for _, e := range NotifyEvents {
		out = append(out, e.Name)
	}
	return out
}

func notifyDefaults(c *Config) {
	for name, n := range c.Notify {
		if n == nil {
			continue
		}
		if n.Events == nil {
			n.Events = emittedEvents()
		}
		if n.FailureThreshold == 0 && !c.written("notify", name, "failure_threshold") {
			n.FailureThreshold = DefaultFailureThreshold
		}
		defDur(&n.Timeout, DefaultNotifyTimeout)
	}
}

func (v *validator) notify(name string, n *Notify) {
	path := []string{"notify", name}
	section := fmt.Sprintf("notify target %q", name)
	at := func(key string, ve *valueError) {
		if ve != nil {
			v.errAt(path, section, key, ve)
		}
	}
	at("", checkName(name))
	switch n.Type {
	case "webhook":
		v.webhook(n, at)
	case "command":
		if len(n.URL)+len(n.HeadersFile)+len(n.CABundle) > 0 {
			at("url", badValue("remove url, headers_file and ca_bundle, or use type = \"webhook\"",
				"url, headers_file and ca_bundle apply to webhooks only"))
		}
		if len(n.Command) == 0 {
			at("command", badValue(`add e.g. command = ["/usr/local/bin/page-oncall"]`, "missing command"))
		} else {
			v.hookArgv("command", n.Command, at)
		}
	default:
		at("type", badValue(`use type = "webhook" or type = "command"`, "unknown notify type %s", quoteShort(n.Type)))
	}
	if len(n.Events) == 0 {
		at("events", badValue("list at least one event, or remove events to get all of them", "events is empty"))
	}
	seen := map[string]bool{}
	for _, e := range n.Events {
		if ve := oneOf(e, "event", notifyEventNames()); ve != nil {
			at("events", ve)
		} else if seen[e] {
			at("events", badValue("list each event once", "event %q is listed twice", e))
		}
		seen[e] = true
	}
	if n.FailureThreshold < 1 || n.FailureThreshold > 1000 {
		at("failure_threshold", badValue("use a number from 1 to 1000, e.g. 3",
			"failure_threshold %d is out of range", n.FailureThreshold))
	}
	at("timeout", positive(n.Timeout, "timeout", "30s"))
}

func (v *validator) webhook(n *Notify, at func(string, *valueError)) {
	if len(n.Command) > 0 {
		at("command", badValue(`remove command, or use type = "command"`, "command applies to command targets only"))
	}
	if n.URL == "" {
		at("url", badValue(`add e.g. url = "https://hooks.example.com/certagent"`, "missing url"))
	} else {
		at("url", checkWebhookURL(n.URL))
	}
	v.inputFile(at, "ca_bundle", n.CABundle, false)
	v.inputFile(at, "headers_file", n.HeadersFile, true)
	// Parsed only once it passed the trust rule above, and read without
	// following a final link or blocking on a FIFO.
	if n.HeadersFile != "" && !v.opts.SkipFileChecks && checkPath(n.HeadersFile) == nil && checkSecretFile(n.HeadersFile) == nil {
		if data, err := trust.ReadTrusted(n.HeadersFile, maxHeadersFile); err == nil {
			if _, err := ParseHeaders(data); err != nil {
				at("headers_file", badValue(`write one "Name: value" line per header`, "%s: %v", n.HeadersFile, err))
			}
		}
	}
}

// checkWebhookURL allows https, and plain http to a loopback address
// only: a notification may carry a cert name and an error text, and the
// headers often carry a token.
func checkWebhookURL(s string) *valueError {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return badValue(`write a full URL, e.g. "https://hooks.example.com/certagent"`, "invalid url %s", quoteShort(s))
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	case u.Scheme == "http":
		return badValue("use https; plain http is allowed to a loopback address only", "url %s is not https", quoteShort(s))
	default:
		return badValue("use an https:// URL", "unsupported url scheme %s", quoteShort(u.Scheme))
	}
	if u.User != nil {
		return badValue("put credentials in headers_file, not in the URL", "url %s contains credentials", quoteShort(u.Redacted()))
	}
	return nil
}

// ParseHeaders reads a headers file: one "Name: value" line per header;
// blank lines and lines starting with '#' are ignored. The notifier reads
// the file again before each delivery, so a rotated token takes effect
// without a reload; errors never quote a value.
func ParseHeaders(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, val, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d is not a \"Name: value\" header", n)
		}
		if strings.ContainsAny(val, "\x00\r") {
			return nil, fmt.Errorf("line %d: the value contains a control character", n)
		}
		out[textproto.CanonicalMIMEHeaderKey(k)] = strings.TrimSpace(val)
	}
	return out, sc.Err()
}

// stageHook checks pre_exec and on_failure like exec.
func (v *validator) stageHook(key string, argv []string, at func(string, *valueError)) {
	if len(argv) > 0 {
		v.hookArgv(key, argv, at)
	}
}

// hookArgv applies the hook rules to a command line: no control
// characters, an absolute program, and the trust rule (checkHook).
func (v *validator) hookArgv(key string, argv []string, at func(string, *valueError)) {
	for _, a := range argv {
		if strings.ContainsAny(a, "\x00\n\r") {
			at(key, badValue("remove the control character", "%s argument %s contains a NUL or newline", key, quoteShort(a)))
			return
		}
	}
	if !filepath.IsAbs(argv[0]) {
		at(key, badValue("use the program's absolute path, e.g. \"/usr/local/bin/reload-certs\"; hooks do not search $PATH",
			"%s program %s is not an absolute path", key, quoteShort(argv[0])))
	} else if !v.opts.SkipFileChecks {
		at(key, checkHook(argv))
	}
}

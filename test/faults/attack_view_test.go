package faults

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/pebbletest"
)

// freePort is a free loopback port, as a string for configs.
func freePort(t *testing.T) string { return strconv.Itoa(pebbletest.FreePort(t)) }

// startPebble starts a real Pebble that marks every challenge valid:
// the attacks are on what certagent writes before validation.
func startPebble(t *testing.T) *pebbletest.Server {
	return pebbletest.Start(t, pebbletest.Options{Env: map[string]string{"PEBBLE_VA_ALWAYS_VALID": "1"}})
}

// fetchAs fetches url with curl as u; "" when that fails.
func fetchAs(u account, url string) string {
	out, err := asUser(u, "curl -fsS --max-time 10 "+url)
	if err != nil {
		return ""
	}
	return out
}

// metricLines keeps the sample lines of a metrics page.
func metricLines(page string) string {
	var out []string
	for _, l := range strings.Split(page, "\n") {
		if strings.HasPrefix(l, "certagent_") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var (
	stampRe  = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)`)
	numberRe = regexp.MustCompile(`\b\d+(\.\d+)?(e[+-]?\d+)?\b`)
)

// certView is what text says about one cert, with the cert's name, time
// stamps and numbers blanked, as a sorted set of lines: two certs the
// text treats alike have the same view. For JSON (status --json) the
// view is the object that names the cert.
func certView(text, name string) string {
	set := map[string]bool{}
	for _, l := range certLines(text, name) {
		l = strings.ReplaceAll(l, name, "NAME")
		l = stampRe.ReplaceAllString(l, "TIME")
		l = numberRe.ReplaceAllString(l, "N")
		set[strings.TrimSpace(l)] = true
	}
	var out []string
	for l := range set {
		out = append(out, l)
	}
	sort.Strings(out)
	return strings.Join(out, " | ")
}

// certLines returns the lines about name: lines naming it, and for
// indented JSON every line of the object whose "name" is name.
func certLines(text, name string) []string {
	lines := strings.Split(text, "\n")
	var out []string
	for i, l := range lines {
		if strings.Contains(l, `"name": "`+name+`"`) {
			indent := len(l) - len(strings.TrimLeft(l, " "))
			for j := i - 1; j >= 0 && leading(lines[j]) >= indent; j-- {
				out = append(out, lines[j])
			}
			for j := i; j < len(lines) && leading(lines[j]) >= indent; j++ {
				out = append(out, lines[j])
			}
			continue
		}
		if strings.Contains(l, "cert="+name) || strings.Contains(l, `cert="`+name+`"`) || strings.Contains(l, `cert "`+name+`"`) || strings.Contains(l, "/"+name+"/") {
			out = append(out, l)
		}
	}
	return out
}

func leading(l string) int {
	if strings.TrimSpace(l) == "" {
		return 1 << 30
	}
	return len(l) - len(strings.TrimLeft(l, " "))
}

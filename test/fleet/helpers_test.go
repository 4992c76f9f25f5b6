package fleet

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/fleetrig"
)

// all is every host the test ran.
func (f *fleet) all() []*fleetrig.Host {
	return append(append([]*fleetrig.Host(nil), f.hosts...), f.extra, f.acmeHost)
}

// await polls cond for every fleet host (in parallel) until all hold,
// failing with the hosts that did not.
func (f *fleet) await(what string, within time.Duration, cond func(*fleetrig.Host) bool) {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var mu sync.Mutex
		var missing []int
		var wg sync.WaitGroup
		for _, h := range f.hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !cond(h) {
					mu.Lock()
					missing = append(missing, h.I)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			sort.Ints(missing)
			f.t.Fatalf("%s: not after %s; missing hosts %v", what, within, missing)
		}
		time.Sleep(time.Second)
	}
}

// since renders the host's entries with an event from t on, one a line.
func (f *fleet) since(h *fleetrig.Host, t time.Time) string {
	evs, _ := h.Events()
	var b strings.Builder
	for _, e := range evs {
		if e.Time.Before(t) || e.Str("event") == "" {
			continue
		}
		fmt.Fprintf(&b, "  %s %s %s not_after=%s retry_at=%s next_renewal=%s %s\n", e.Time.Format("15:04:05.000"), e.Level,
			e.Str("event"), e.Str("not_after"), e.Str("retry_at"), e.Str("next_renewal"), e.Str("error"))
	}
	return b.String()
}

// events returns the host's log entries with event=name.
func (f *fleet) events(h *fleetrig.Host, name string) []fleetrig.Event {
	return f.eventsAny(h, name)
}

func (f *fleet) eventsAny(h *fleetrig.Host, names ...string) []fleetrig.Event {
	evs, err := h.Events()
	if err != nil {
		return nil
	}
	var out []fleetrig.Event
	for _, e := range evs {
		for _, n := range names {
			if e.Str("event") == n {
				out = append(out, e)
			}
		}
	}
	return out
}

func hostOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i > 0 && strings.Count(addr, ":") == 1 {
		return addr[:i]
	}
	return addr
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func readCerts(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	cs, err := readCertsErr(file)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func readCertsErr(file string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return pki.ParseCertsPEM(b)
}

func containsCert(cs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range cs {
		if bytes.Equal(x.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// showLogs prints the tails of step-ca's log and of a few hosts' logs.
func showLogs(t *testing.T, rig *fleetrig.Rig) {
	tail := func(file string, n int) string {
		b, _ := os.ReadFile(file)
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		for i, l := range lines {
			if len(l) > 400 {
				lines[i] = l[:400] + "…"
			}
		}
		return strings.Join(lines, "\n")
	}
	if rig.CA != nil {
		t.Logf("step-ca log tail:\n%s", tail(rig.CA.LogFile(), 12))
	}
	for i, h := range rig.Hosts {
		if i >= 3 && i != len(rig.Hosts)-1 {
			continue
		}
		t.Logf("host %d log tail:\n%s", h.I, tail(h.LogFile(), 8))
	}
}

// assertNoNamespacesLeft: Close removed every namespace of this process.
func assertNoNamespacesLeft(t *testing.T) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Errorf("ip netns list: %v", err)
		return
	}
	mine := fmt.Sprintf("cafleet%d-", os.Getpid())
	if strings.Contains(string(out), mine) {
		t.Errorf("namespaces left behind:\n%s", out)
	}
}

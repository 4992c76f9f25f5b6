package fleet

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/fleetrig"
	"github.com/certagent/certagent/internal/testbin"
)

// fleet is the test's view of the rig: the N hosts that share one
// config, and the extra host enrolled with an OpenFL-form token.
type fleet struct {
	t     *testing.T
	rig   *fleetrig.Rig
	hosts []*fleetrig.Host
	extra *fleetrig.Host
	// acmeHost renews an IP-only cert from step-ca's ACME provisioner.
	acmeHost *fleetrig.Host
	// acme runs the hosts on step-ca's ACME provisioner instead of the
	// step issuer (CERTAGENT_FLEET_ISSUER=acme: a debugging aid for the
	// rig; the token, mTLS and rotation checks are then skipped).
	acme  bool
	root2 *x509.Certificate
}

// enroll writes the shared config and a fresh token on every host and
// starts the daemons at once, then waits until each has issued.
func (f *fleet) enroll() {
	t := f.t
	f.acme = os.Getenv("CERTAGENT_FLEET_ISSUER") == "acme"
	fp, err := f.rig.CA.Fingerprint()
	if err != nil {
		t.Fatal(err)
	}
	shared := fleetrig.StepConfig(f.rig.Mount, f.rig.CA.URL, fp)
	for _, h := range f.hosts {
		cfg := shared
		if f.acme {
			cfg = fleetrig.ACMEConfig(f.rig.Mount, f.rig.ACMEDirectory(), h.IP)
			if err := f.rig.CopyRoot(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.WriteConfig(cfg); err != nil {
			t.Fatal(err)
		}
		if !f.acme {
			tok, err := f.rig.CA.Token(sub, sub)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.PutToken(tok); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, h := range f.hosts {
		if err := h.Start(bin); err != nil {
			t.Fatal(err)
		}
	}
	f.await("every host issued", 2*time.Minute, func(h *fleetrig.Host) bool {
		return len(f.events(h, "issued")) >= 1
	})
}

// startACMEHost starts the host that orders an IP-only cert for its own
// address from step-ca's ACME provisioner.
func (f *fleet) startACMEHost() {
	h := f.acmeHost
	if err := f.rig.CopyRoot(h); err != nil {
		f.t.Fatal(err)
	}
	if err := h.WriteConfig(fleetrig.ACMEConfig(f.rig.Mount, f.rig.ACMEDirectory(), h.IP)); err != nil {
		f.t.Fatal(err)
	}
	if err := h.Start(bin); err != nil {
		f.t.Fatal(err)
	}
}

// acmeIPOnly: the ACME host was issued and renewed its IP-only cert, and
// the subject openssl prints names no IP (the order carried no CN).
func (f *fleet) acmeIPOnly() {
	h := f.acmeHost
	if n := len(f.events(h, "renewed")); n < 1 {
		f.t.Errorf("ACME host: %d renewals from step-ca's ACME provisioner, want >= 1", n)
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		testbin.Missing(f.t, "openssl not installed")
		return
	}
	out, err := exec.Command(openssl, "x509", "-in", h.CertFile(), "-noout", "-subject", "-ext", "subjectAltName").CombinedOutput()
	if err != nil {
		f.t.Fatalf("openssl x509: %v\n%s", err, out)
	}
	subject, _, _ := strings.Cut(string(out), "\n")
	if !strings.HasPrefix(subject, "subject=") || strings.Contains(subject, h.IP) || !strings.Contains(string(out), "IP Address:"+h.IP) {
		f.t.Errorf("ACME IP-only cert: openssl prints %q; want a subject without the IP and the IP in the SAN", out)
	}
	f.t.Logf("ACME IP-only cert from step-ca: %s", strings.Join(strings.Fields(string(out)), " "))
}

// tokensDeleted: each host's one-time token is gone once used.
func (f *fleet) tokensDeleted() {
	if f.acme {
		return
	}
	for _, h := range f.hosts {
		if _, err := os.Lstat(h.TokenFile()); !os.IsNotExist(err) {
			f.t.Errorf("host %d: token %s still there after enrollment (%v)", h.I, h.TokenFile(), err)
		}
	}
}

// awaitRenewals waits until every host has renewed k times.
func (f *fleet) awaitRenewals(k int, within time.Duration) {
	f.await(fmt.Sprintf("every host renewed %d times", k), within, func(h *fleetrig.Host) bool {
		return len(f.events(h, "renewed")) >= k
	})
}

// renewedOverMTLS: step-ca logged at least k successful rekeys (mutual
// TLS, no token) from each host's address.
func (f *fleet) renewedOverMTLS(k int) {
	if f.acme {
		return
	}
	reqs, err := f.rig.CA.Requests()
	if err != nil {
		f.t.Fatal(err)
	}
	byIP := map[string]int{}
	for _, r := range reqs {
		if p := strings.TrimPrefix(r.Path, "/1.0"); (p == "/rekey" || p == "/renew") && r.Status/100 == 2 {
			byIP[hostOf(r.Remote)]++
		}
	}
	for _, h := range f.hosts {
		if byIP[h.IP] < k {
			f.t.Errorf("host %d (%s): %d renewals over mTLS in step-ca's log, want >= %d", h.I, h.IP, byIP[h.IP], k)
		}
	}
}

// spread: the renewals of hosts that share one config fall in at least
// N/2 distinct seconds.
func (f *fleet) spread() {
	secs := map[int64]int{}
	for _, h := range f.hosts {
		for _, e := range f.events(h, "renewed") {
			secs[e.Time.Unix()]++
		}
	}
	busiest := 0
	for _, c := range secs {
		busiest = max(busiest, c)
	}
	f.t.Logf("spread: renewals in %d distinct seconds, at most %d in one", len(secs), busiest)
	if len(secs) < len(f.hosts)/2 {
		f.t.Errorf("renewals of %d hosts with one config fall in %d distinct seconds, want >= %d",
			len(f.hosts), len(secs), len(f.hosts)/2)
	}
}

// outage kills step-ca, keeps it down for the outage, and restarts it
// with a second root federated (the rotation). It returns when step-ca
// answers again.
func (f *fleet) outage() time.Time {
	t := f.t
	if !f.acme {
		file, err := f.rig.CA.AddFederatedRoot("root2")
		if err != nil {
			t.Fatal(err)
		}
		f.root2 = readCerts(t, file)[0]
	}
	// Go down just before the next planned renewal of the fleet, so the
	// outage is sure to meet renewals (the hosts' 80 s rhythm could
	// otherwise leave a 60 s gap without one).
	if next := f.nextRenewal(); !next.IsZero() {
		time.Sleep(time.Until(next.Add(-2 * time.Second)))
	}
	f.rig.CA.Kill()
	down := time.Now()
	time.Sleep(outage)
	// A host may retry between step-ca's start and its first healthy
	// answer, and succeed: the outage ends when the process starts.
	back := time.Now()
	if err := f.rig.CA.Start(); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, h := range f.hosts {
		for _, e := range f.events(h, "renew_failed") {
			if e.Time.After(down) {
				failed++
				break
			}
		}
	}
	t.Logf("outage: step-ca down %s; %d of %d hosts failed a renewal meanwhile", back.Sub(down).Round(time.Second), failed, len(f.hosts))
	if failed == 0 {
		t.Errorf("no host tried to renew during a %s outage: the test did not test recovery", outage)
	}
	return back
}

// nextRenewal is the earliest next_renewal, at least 3 s ahead, that a
// host's last issued or renewed entry announced.
func (f *fleet) nextRenewal() time.Time {
	var next time.Time
	soon := time.Now().Add(3 * time.Second)
	for _, h := range f.hosts {
		evs := f.eventsAny(h, "issued", "renewed")
		if len(evs) == 0 {
			continue
		}
		at, err := time.Parse(time.RFC3339, evs[len(evs)-1].Str("next_renewal"))
		if err == nil && at.After(soon) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// retryBound: every retry the daemons planned during the outage was at
// most max(5 s, a quarter of the cert's remaining lifetime) away (a
// second of slack for log stamps).
func (f *fleet) retryBound() {
	worst := time.Duration(0)
	for _, h := range f.hosts {
		var notAfter time.Time
		for _, e := range f.eventsAny(h, "issued", "renewed", "renew_failed") {
			if e.Str("event") != "renew_failed" {
				notAfter, _ = time.Parse(time.RFC3339, e.Str("not_after"))
				continue
			}
			retry, err := time.Parse(time.RFC3339, e.Str("retry_at"))
			if err != nil {
				f.t.Errorf("host %d: renew_failed without retry_at: %v", h.I, e.Fields)
				continue
			}
			wait, bound := retry.Sub(e.Time), max(5*time.Second, notAfter.Sub(e.Time)/4)
			worst = max(worst, wait)
			if wait > bound+time.Second {
				f.t.Errorf("host %d: failed at %s with %s left, retry planned %s later, want <= %s",
					h.I, e.Time.Format(time.TimeOnly), notAfter.Sub(e.Time).Round(time.Second), wait.Round(time.Second), bound)
			}
		}
	}
	f.t.Logf("retry bound: the longest planned wait after a failure was %s", worst.Round(time.Second))
}

// recovered: every host renews after step-ca is back.
func (f *fleet) recovered(back time.Time) {
	f.await("every host renewed after the outage", certLife, func(h *fleetrig.Host) bool {
		for _, e := range f.events(h, "renewed") {
			if e.Time.After(back) {
				return true
			}
		}
		return false
	})
}

// retriesSpread: the hosts' first successful renewals after the CA came
// back are spread over several seconds, not a burst in one.
func (f *fleet) retriesSpread(back time.Time) {
	secs := map[int64]int{}
	var last time.Time
	for _, h := range f.hosts {
		for _, e := range f.events(h, "renewed") {
			if e.Time.After(back) {
				secs[e.Time.Unix()]++
				last = maxTime(last, e.Time)
				break
			}
		}
	}
	busiest := 0
	for _, c := range secs {
		busiest = max(busiest, c)
	}
	f.t.Logf("recovery: first renewals after the CA returned in %d distinct seconds over %s, at most %d in one",
		len(secs), last.Sub(back).Round(time.Second), busiest)
	for _, h := range f.hosts {
		for _, e := range f.events(h, "renewed") {
			if e.Time.After(back) {
				if e.Time.Sub(back) > 30*time.Second {
					f.t.Logf("host %d recovered %s after the CA returned; its entries since the outage began:\n%s",
						h.I, e.Time.Sub(back).Round(time.Second), f.since(h, back.Add(-outage)))
				}
				break
			}
		}
	}
	if want := max(2, len(f.hosts)/4); len(secs) < want {
		f.t.Errorf("recoveries after the outage fall in %d distinct seconds, want >= %d", len(secs), want)
	}
}

// openFLToken enrolls the extra host with OpenFL's token form (base64 of
// the JWT, ".", base64 of the root PEM) and no root_fingerprint; the
// token is minted after step-ca's restart, as step-ca requires.
func (f *fleet) openFLToken() {
	if f.acme {
		return
	}
	t, h := f.t, f.extra
	jwt, err := f.rig.CA.Token(sub, sub)
	if err != nil {
		t.Fatal(err)
	}
	rootPEM, err := os.ReadFile(f.rig.CA.Root)
	if err != nil {
		t.Fatal(err)
	}
	tok := base64.StdEncoding.EncodeToString([]byte(jwt)) + "." + base64.StdEncoding.EncodeToString(rootPEM)
	if err := h.WriteConfig(fleetrig.StepConfig(f.rig.Mount, f.rig.CA.URL, "")); err != nil {
		t.Fatal(err)
	}
	if err := h.PutToken(tok); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(bin); err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, time.Minute, "the OpenFL-token host issued", func() bool {
		return len(f.events(h, "issued")) >= 1
	})
	if _, err := os.Lstat(h.TokenFile()); !os.IsNotExist(err) {
		t.Errorf("OpenFL-form token still there after enrollment (%v)", err)
	}
	root := readCerts(t, f.rig.CA.Root)[0]
	leaf := readCerts(t, h.CertFile())[0]
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range readCerts(t, h.CertFile())[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: sub,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("OpenFL-token host's cert does not verify against the root in its token: %v", err)
	}
	if !containsCert(readCerts(t, h.CAFile()), root) {
		t.Error("OpenFL-token host's ca_file lacks step-ca's root")
	}
}

// rotated: the federated second root reaches every host's ca_file, next
// to the first.
func (f *fleet) rotated() {
	if f.acme {
		return
	}
	root := readCerts(f.t, f.rig.CA.Root)[0]
	f.await("root2 in every ca_file", 2*certLife, func(h *fleetrig.Host) bool {
		cs, err := readCertsErr(h.CAFile())
		return err == nil && containsCert(cs, f.root2) && containsCert(cs, root)
	})
}

// noneExpired: on every host each renewal came before the cert it
// replaced expired, and the cert on disk is valid now.
func (f *fleet) noneExpired() {
	now := time.Now()
	for _, h := range f.all() {
		if !h.Running() && h != f.extra {
			f.t.Errorf("host %d: daemon exited", h.I)
			continue
		}
		var notAfter time.Time
		for _, e := range f.eventsAny(h, "issued", "renewed") {
			if !notAfter.IsZero() && e.Time.After(notAfter) {
				f.t.Errorf("host %d: cert expired at %s, renewed only at %s", h.I, notAfter.Format(time.TimeOnly), e.Time.Format(time.TimeOnly))
			}
			na, err := time.Parse(time.RFC3339, e.Str("not_after"))
			if err != nil {
				f.t.Errorf("host %d: %s event without not_after: %v", h.I, e.Str("event"), e.Fields)
				continue
			}
			notAfter = na
		}
		if _, err := os.Stat(h.CertFile()); os.IsNotExist(err) && h == f.extra && f.acme {
			continue
		}
		if leaf := readCerts(f.t, h.CertFile())[0]; !now.Before(leaf.NotAfter) {
			f.t.Errorf("host %d: the cert on disk expired at %s", h.I, leaf.NotAfter)
		}
	}
}

// noErrorsBut: the only ERROR lines are the renewal failures of the
// outage; nothing else went wrong.
func (f *fleet) noErrorsBut() {
	for _, h := range f.all() {
		evs, err := h.Events()
		if err != nil {
			continue
		}
		for _, e := range evs {
			if e.Level == "raw" || e.Level == "error" && e.Str("event") != "renew_failed" {
				f.t.Errorf("host %d: unexpected log line: %s %s %v", h.I, e.Level, e.Message, e.Fields)
			}
		}
	}
}

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

// tool finds a pinned tool where test/setup.d installs it, then on PATH.
func tool(t *testing.T, name, script string) string {
	t.Helper()
	var dirs []string
	if d := os.Getenv("CERTAGENT_TOOLS"); d != "" {
		dirs = append(dirs, d)
	}
	if abs, err := filepath.Abs("../../.cache/bin"); err == nil {
		dirs = append(dirs, abs)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	testbin.Missing(t, "%s not found in $CERTAGENT_TOOLS, .cache/bin or $PATH (%s)", name, script)
	return ""
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

package acme_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// Request kinds the fault proxy tells apart.
const (
	kindNewOrder    = "newOrder"
	kindFinalize    = "finalize"
	kindRenewalInfo = "renewalInfo"
	kindOther       = "other"
)

// finalizePrefix is where Pebble v2.10.1 serves order finalization; the
// directory does not name it (each order carries its own URL).
const finalizePrefix = "/finalize-order/"

// ACME problem types the proxy injects.
const (
	probRateLimited    = "urn:ietf:params:acme:error:rateLimited"
	probServerInternal = "urn:ietf:params:acme:error:serverInternal"
)

// faultProxy is an HTTPS reverse proxy in front of Pebble's ACME API. It
// serves a certificate from a CA the test generates, which is the only
// extra root in certagent's ca_bundle, so a client that bypassed it to
// reach Pebble directly would fail TLS. It forwards the client's Host
// header, and Pebble builds every URL it hands out (directory, orders,
// Location, Link) from that header, so the client keeps talking through
// the proxy without any rewriting. It counts requests per kind, with
// their arrival times, and answers a kind with an injected handler
// instead of forwarding while one is set.
type faultProxy struct {
	dirURL   string // Pebble's directory, through the proxy
	caFile   string // PEM root that signs the proxy's certificate
	newOrder string // path of newOrder, from the directory
	ari      string // path prefix of renewalInfo, from the directory
	rp       *httputil.ReverseProxy

	mu     sync.Mutex
	faults map[string]http.HandlerFunc
	hits   map[string][]time.Time
}

// newFaultProxy starts a proxy in front of srv for the test's lifetime.
func newFaultProxy(t *testing.T, srv *pebbletest.Server) *faultProxy {
	t.Helper()
	backend, err := url.Parse(srv.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}
	minica, err := os.ReadFile(srv.CABundle)
	if err != nil {
		t.Fatal(err)
	}
	pebbleRoots := x509.NewCertPool()
	pebbleRoots.AppendCertsFromPEM(minica)
	p := &faultProxy{faults: map[string]http.HandlerFunc{}, hits: map[string][]time.Time{}}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(&url.URL{Scheme: "https", Host: backend.Host})
			pr.Out.Host = pr.In.Host
		},
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pebbleRoots, MinVersion: tls.VersionTLS12}},
	}
	cert, caPEM := proxyCert(t)
	p.caFile = filepath.Join(t.TempDir(), "proxy-ca.pem")
	if err := os.WriteFile(p.caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(p)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	p.dirURL = ts.URL + backend.Path
	p.readDirectory(t, caPEM)
	return p
}

// readDirectory learns the endpoint paths from the directory as served
// through the proxy, and checks they point back at the proxy.
func (p *faultProxy) readDirectory(t *testing.T, caPEM []byte) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(p.dirURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatalf("directory through the proxy: %v", err)
	}
	self, _ := url.Parse(p.dirURL)
	for key, dst := range map[string]*string{"newOrder": &p.newOrder, "renewalInfo": &p.ari} {
		s, _ := dir[key].(string)
		u, err := url.Parse(s)
		if err != nil || u.Host != self.Host {
			t.Fatalf("directory %s = %q does not point at the proxy %s", key, s, self.Host)
		}
		*dst = u.Path
	}
	p.reset()
}

func (p *faultProxy) kind(path string) string {
	switch {
	case path == p.newOrder:
		return kindNewOrder
	case strings.HasPrefix(path, finalizePrefix):
		return kindFinalize
	case p.ari != "" && strings.HasPrefix(path, p.ari):
		return kindRenewalInfo
	}
	return kindOther
}

func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k := p.kind(r.URL.Path)
	p.mu.Lock()
	p.hits[k] = append(p.hits[k], time.Now())
	h := p.faults[k]
	p.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// inject answers every request of kind with h until clear(kind).
func (p *faultProxy) inject(kind string, h http.HandlerFunc) {
	p.mu.Lock()
	p.faults[kind] = h
	p.mu.Unlock()
}

func (p *faultProxy) clear(kind string) { p.inject(kind, nil) }

// times returns the arrival times of the requests of kind.
func (p *faultProxy) times(kind string) []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.hits[kind]...)
}

// between counts the requests of any kind that arrived in (from, to).
func (p *faultProxy) between(from, to time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, ts := range p.hits {
		for _, at := range ts {
			if at.After(from) && at.Before(to) {
				n++
			}
		}
	}
	return n
}

func (p *faultProxy) reset() {
	p.mu.Lock()
	p.hits = map[string][]time.Time{}
	p.mu.Unlock()
}

// problemAnswer is an ACME problem document with status and headers.
func problemAnswer(status int, typ string, header ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"type": typ, "detail": "injected by the test proxy", "status": status})
	}
}

// rawAnswer is a 200 application/json with body as is.
func rawAnswer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

// proxyCert makes a throw-away CA and a 127.0.0.1/localhost certificate
// it signs; it returns the certificate and the CA's PEM.
func proxyCert(t *testing.T) (tls.Certificate, []byte) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certagent test proxy CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}

// proxyRig is one cert, first issued by a healthy Pebble through a fault
// proxy; old holds its files as they were then.
type proxyRig struct {
	e    *env
	srv  *pebbletest.Server
	px   *faultProxy
	name string
	ari  bool
	old  map[string][]byte
}

func newProxyRig(t *testing.T, name string, ari bool) *proxyRig {
	t.Helper()
	for attempt := 1; ; attempt++ {
		srv := pebbletest.Start(t, pebbletest.Options{})
		r := &proxyRig{e: newEnv(t), srv: srv, px: newFaultProxy(t, srv), name: name, ari: ari}
		r.writeConfig(t, "")
		res := certagent(t, "renew", "--config", r.e.Config)
		if res.code != 0 {
			// Setup, not the behaviour under test. Pebble v2.10.1 was seen
			// once (in ~10 suite runs) to stop answering an order poll for
			// the whole minute lego waits; start over once on a fresh one.
			// The log, with Pebble's goroutine stacks, is for diagnosis.
			pebbleLog := srv.StopWithStacks()
			if attempt == 1 {
				t.Logf("setup issuance failed (exit %d); retrying once on a fresh Pebble:\n%s\npebble log:\n%s", res.code, res.stderr, pebbleLog)
				continue
			}
			t.Fatalf("setup issuance failed twice (exit %d):\n%s\npebble log:\n%s", res.code, res.stderr, pebbleLog)
		}
		if len(r.px.times(kindNewOrder)) != 1 {
			t.Fatalf("the first issuance made %d newOrder requests through the proxy, want 1", len(r.px.times(kindNewOrder)))
		}
		r.old = r.e.snapshot(t, name)
		r.px.reset()
		return r
	}
}

// writeConfig points the issuer at the proxy and trusts only its CA.
func (r *proxyRig) writeConfig(t *testing.T, renewBefore string) {
	t.Helper()
	via := *r.srv
	via.CABundle = r.px.caFile
	r.e.write(t, &via, issuerOpts{directory: r.px.dirURL, ari: &r.ari},
		certOpts{name: r.name, dnsNames: []string{r.name + ".example.com"}, renewBefore: renewBefore})
}

// unchanged fails t when any output file differs from the first issuance.
func (r *proxyRig) unchanged(t *testing.T) {
	t.Helper()
	now := r.e.snapshot(t, r.name)
	for f := range r.old {
		if !bytes.Equal(r.old[f], now[f]) {
			t.Errorf("%s changed although no renewal succeeded", f)
		}
	}
}

// failedOnce checks the log holds exactly one error entry, the
// renew_failed event, naming problem; it returns that entry.
func failedOnce(t *testing.T, log, problem string) logEntry {
	t.Helper()
	entries, _ := parseLog(log)
	failed := withField(entries, "event", "renew_failed")
	errs := withField(entries, "@level", "error")
	if len(failed) != 1 || len(errs) != 1 {
		t.Fatalf("%d renew_failed and %d error entries, want the failure logged once:\n%s", len(failed), len(errs), log)
	}
	if !strings.Contains(failed[0].str("error"), problem) {
		t.Errorf("logged error lacks the problem type %s: %s", problem, failed[0].str("error"))
	}
	return failed[0]
}

// renewedOK checks a successful renewal: new files that verify, status clean.
func (r *proxyRig) renewedOK(t *testing.T) {
	t.Helper()
	if bytes.Equal(r.e.snapshot(t, r.name)["cert.pem"], r.old["cert.pem"]) {
		t.Fatal("cert.pem unchanged after the renewal")
	}
	verifyChain(t, r.srv, r.e, r.name)
	if row := r.e.status(t, r.name); row.Failures != 0 || row.LastError != "" {
		t.Errorf("status --json after recovery: %+v", row)
	}
}

// TestProxyRateLimitDaemon: newOrder answers 429 rateLimited with
// Retry-After: 8. The daemon fails once, schedules the retry exactly 8 s
// later (not the 1-minute backoff), sends nothing in between, and issues
// at the retry once the proxy stops injecting.
func TestProxyRateLimitDaemon(t *testing.T) {
	t.Parallel()
	const retryAfter = 8 * time.Second
	r := newProxyRig(t, "ratelimit", false)
	r.writeConfig(t, "100d") // longer than the 90-day lifetime: due now
	r.px.inject(kindNewOrder, problemAnswer(http.StatusTooManyRequests, probRateLimited, "Retry-After", "8"))
	d := startDaemon(t, r.e)
	d.Await(1, 60*time.Second, event("renew_failed"))
	r.px.clear(kindNewOrder) // the fault stops; the agent must still wait
	sent := r.px.times(kindNewOrder)[0]
	row := r.e.status(t, r.name)
	failedOnce(t, d.Text(), probRateLimited)
	r.unchanged(t)
	if row.Failures != 1 || row.State != "failed" || !strings.Contains(row.LastError, probRateLimited) {
		t.Errorf("status --json after the 429: %+v", row)
	}
	if !near(row.NextRenewal, sent.Add(retryAfter), 2*time.Second) {
		t.Fatalf("status --json next_renewal is %s after the 429, want Retry-After %s (±2 s)",
			row.NextRenewal.Sub(sent).Round(time.Millisecond), retryAfter)
	}

	d.Await(1, retryAfter+15*time.Second, event("renewed"))
	orders := r.px.times(kindNewOrder)
	if len(orders) != 2 {
		t.Fatalf("%d newOrder requests, want 2 (the 429, then the retry)", len(orders))
	}
	gap := orders[1].Sub(orders[0])
	if gap < retryAfter-500*time.Millisecond || gap > retryAfter+5*time.Second {
		t.Errorf("retry sent %s after the 429, want Retry-After %s", gap.Round(time.Millisecond), retryAfter)
	}
	// The retry's own directory and nonce requests precede its newOrder.
	quiet := r.px.between(orders[0], row.NextRenewal.Add(-500*time.Millisecond))
	if quiet != 0 {
		t.Errorf("%d requests reached the CA during the Retry-After window, want 0", quiet)
	}
	r.renewedOK(t)
	summary("proxy 429 rateLimited on newOrder (daemon): failed once, next_renewal = 429 + %s (Retry-After %s), retry after %s with %d requests in between, 2 newOrder in all; issued",
		row.NextRenewal.Sub(sent).Round(100*time.Millisecond), retryAfter, gap.Round(100*time.Millisecond), quiet)
}

// TestProxyRateLimitFinalizeRenew: finalize answers 429 rateLimited with
// Retry-After: 5 to `certagent renew`. The one-shot fails with the old
// files kept and records the CA's time; a renew inside the window orders
// nothing; a renew after it issues.
func TestProxyRateLimitFinalizeRenew(t *testing.T) {
	t.Parallel()
	const retryAfter = 5 * time.Second
	r := newProxyRig(t, "finalize", false)
	r.writeConfig(t, "100d")
	r.px.inject(kindFinalize, problemAnswer(http.StatusTooManyRequests, probRateLimited, "Retry-After", "5"))
	res := certagent(t, "renew", "--config", r.e.Config)
	if res.code != 1 {
		t.Fatalf("renew against a rate-limited finalize: exit %d, want 1\n%s", res.code, res.stderr)
	}
	failedOnce(t, res.stderr, probRateLimited)
	r.unchanged(t)
	if entries, _ := os.ReadDir(filepath.Join(r.e.State, "staging")); len(entries) != 0 {
		t.Errorf("staging not empty after a failed renewal: %v", entries)
	}
	fin := r.px.times(kindFinalize)
	if len(fin) != 1 {
		t.Fatalf("%d finalize requests, want 1", len(fin))
	}
	row := r.e.status(t, r.name)
	if !near(row.NextRenewal, fin[0].Add(retryAfter), 2*time.Second) {
		t.Fatalf("status --json next_renewal is %s after the 429, want Retry-After %s (±2 s)",
			row.NextRenewal.Sub(fin[0]).Round(time.Millisecond), retryAfter)
	}
	code := r.waitOutRetry(t, row, kindFinalize)
	summary("proxy 429 rateLimited on finalize (renew): exit 1, files kept, next_renewal = 429 + %s (Retry-After %s); renew inside the window: exit %d, no order; renew after it issued",
		row.NextRenewal.Sub(fin[0]).Round(100*time.Millisecond), retryAfter, code)
}

// waitOutRetry checks what follows a failed one-shot renew that recorded
// a CA retry time: a renew inside the window exits without contacting
// newOrder (one order in all so far) and keeps the files; once the fault
// is cleared and the window has passed, a renew issues. It returns the
// exit code of the renew inside the window.
func (r *proxyRig) waitOutRetry(t *testing.T, row statusRow, fault string) int {
	t.Helper()
	again := certagent(t, "renew", "--config", r.e.Config)
	if n := len(r.px.times(kindNewOrder)); n != 1 {
		t.Errorf("a renew %s before next_renewal, inside the Retry-After window, sent newOrder (%d in all, want 1):\n%s",
			time.Until(row.NextRenewal).Round(time.Millisecond), n, again.stderr)
	}
	r.unchanged(t)
	r.px.clear(fault)
	time.Sleep(time.Until(row.NextRenewal) + 200*time.Millisecond)
	mustRun(t, "renew", "--config", r.e.Config)
	r.renewedOK(t)
	return again.code
}

// TestProxyUnavailableRenew: newOrder answers 503 with Retry-After: 5 and
// an HTML page, as a load balancer in front of a CA under maintenance
// does (no problem document, so lego drops the header). `certagent renew`
// fails with the old files kept, schedules the retry at the server's
// time rather than the 1-minute backoff, orders nothing inside that
// window, and issues after it.
func TestProxyUnavailableRenew(t *testing.T) {
	t.Parallel()
	const retryAfter = 5 * time.Second
	r := newProxyRig(t, "unavailable", false)
	r.writeConfig(t, "100d")
	r.px.inject(kindNewOrder, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("<html><body>down for maintenance</body></html>"))
	})
	res := certagent(t, "renew", "--config", r.e.Config)
	if res.code != 1 {
		t.Fatalf("renew against an unavailable newOrder: exit %d, want 1\n%s", res.code, res.stderr)
	}
	failedOnce(t, res.stderr, "503")
	r.unchanged(t)
	orders := r.px.times(kindNewOrder)
	if len(orders) != 1 {
		t.Fatalf("%d newOrder requests, want 1", len(orders))
	}
	row := r.e.status(t, r.name)
	if !near(row.NextRenewal, orders[0].Add(retryAfter), 2*time.Second) || !near(row.RetryAfter, row.NextRenewal, time.Millisecond) {
		t.Fatalf("status --json next_renewal is %s and retry_after %s after the 503, want Retry-After %s (±2 s)",
			row.NextRenewal.Sub(orders[0]).Round(time.Millisecond), row.RetryAfter.Sub(orders[0]).Round(time.Millisecond), retryAfter)
	}
	code := r.waitOutRetry(t, row, kindNewOrder)
	summary("proxy 503 + Retry-After (HTML body) on newOrder (renew): exit 1, files kept, next_renewal = 503 + %s (Retry-After %s); renew inside the window: exit %d, no order; renew after it issued",
		row.NextRenewal.Sub(orders[0]).Round(100*time.Millisecond), retryAfter, code)
}

// TestProxyARIGarbage: Pebble's own window says "renew now", but the
// proxy answers renewalInfo with garbage. The daemon logs that ARI is
// unavailable, plans by the lifetime policy, does not renew, and does
// not poll again (the next poll is an hour away).
func TestProxyARIGarbage(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	cases := []struct{ name, body, wantErr string }{
		{"arijunk", `{"suggestedWindow": {"start": "2025-01-01T00:00:00Z", "end": `, ""},
		{"aribackwards", fmt.Sprintf(`{"suggestedWindow": {"start": %q, "end": %q}}`,
			now.Add(-10*time.Minute).Format(time.RFC3339), now.Add(-20*time.Minute).Format(time.RFC3339)), "invalid window"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := newProxyRig(t, c.name, true)
			setWindow(t, r.srv, r.e, c.name, now.Add(-10*time.Minute), now)
			r.px.inject(kindRenewalInfo, rawAnswer(c.body))
			d := startDaemon(t, r.e)
			const msg = "renewal information unavailable; using the lifetime policy"
			var warned []logEntry
			testbin.Eventually(t, 30*time.Second, "the ARI warning", func() bool {
				entries, _ := parseLog(d.Text())
				warned = withField(entries, "@message", msg)
				return len(warned) > 0
			})
			time.Sleep(4 * time.Second) // room for a wrong renewal or a re-poll
			entries, _ := parseLog(d.Text())
			if !strings.Contains(warned[0].str("error"), c.wantErr) {
				t.Errorf("ARI warning error %q lacks %q", warned[0].str("error"), c.wantErr)
			}
			if n := len(withField(entries, "@message", msg)); n != 1 {
				t.Errorf("%d ARI warnings, want 1", n)
			}
			if n := len(withField(entries, "@message", "renewal due")) + d.Count(event("renewed")); n != 0 {
				t.Errorf("renewed on a garbage ARI answer (%d entries)", n)
			}
			polls := len(r.px.times(kindRenewalInfo))
			if polls < 1 || polls > 2 {
				t.Errorf("%d renewalInfo requests in the first seconds, want 1 (next poll in an hour)", polls)
			}
			if n := len(r.px.times(kindNewOrder)); n != 0 {
				t.Errorf("%d newOrder requests, want 0", n)
			}
			r.unchanged(t)
			leaf := r.e.leaf(t, c.name)
			want, _ := agent.RenewAt(r.e.policy(t, c.name), leaf.NotBefore, leaf.NotAfter, nil)
			row := r.e.status(t, c.name)
			if !near(row.NextRenewal, want, time.Second) {
				t.Errorf("status --json next_renewal %s, want the lifetime policy's %s", row.NextRenewal, want)
			}
			summary("proxy garbage ARI (%s): warned once, next_renewal %s = lifetime policy (%.0f%% of the lifetime), no renewal, %d renewalInfo request(s) in 4 s",
				c.name, row.NextRenewal.Format(time.RFC3339),
				100*float64(want.Sub(leaf.NotBefore))/float64(leaf.NotAfter.Sub(leaf.NotBefore)), polls)
		})
	}
}

// TestProxyBackoffServerInternal: newOrder answers 500 serverInternal.
// The daemon backs off Backoff(policy, 1) (full jitter over 1 min, keyed
// by the state dir's seed), sends nothing
// before it, and issues at the retry once the proxy stops injecting.
// The doubling and the cap are unit-tested in agent/policy_test.go.
func TestProxyBackoffServerInternal(t *testing.T) {
	t.Parallel()
	r := newProxyRig(t, "backoff", false)
	r.writeConfig(t, "100d")
	r.px.inject(kindNewOrder, problemAnswer(http.StatusInternalServerError, probServerInternal))
	d := startDaemon(t, r.e)
	d.Await(1, 60*time.Second, event("renew_failed"))
	sent := r.px.times(kindNewOrder)[0]
	row := r.e.status(t, r.name)
	failedOnce(t, d.Text(), probServerInternal)
	r.unchanged(t)
	backoff := agent.Backoff(r.e.policy(t, r.name), 1, sent, time.Time{})
	wait := row.NextRenewal.Sub(sent)
	if wait <= 0 || wait > agent.BackoffMin+2*time.Second || !near(row.NextRenewal, sent.Add(backoff), 2*time.Second) {
		t.Fatalf("status --json next_renewal is %s after the failure, want the first backoff %s (within 1m)", wait, backoff)
	}
	r.px.clear(kindNewOrder)

	d.Await(1, backoff+20*time.Second, event("renewed"))
	orders := r.px.times(kindNewOrder)
	if len(orders) != 2 {
		t.Fatalf("%d newOrder requests, want 2 (the failure, then the retry)", len(orders))
	}
	gap := orders[1].Sub(orders[0])
	if gap < backoff-time.Second || gap > backoff+5*time.Second {
		t.Errorf("retry sent %s after the failure, want the backoff %s", gap.Round(time.Millisecond), backoff)
	}
	quiet := r.px.between(orders[0], row.NextRenewal.Add(-500*time.Millisecond))
	if quiet != 0 {
		t.Errorf("%d requests reached the CA during the backoff, want 0", quiet)
	}
	r.renewedOK(t)
	summary("proxy 500 serverInternal on newOrder (daemon): failed once, backoff %s (within 1m), retry after %s with %d requests in between; issued",
		backoff.Round(100*time.Millisecond), gap.Round(100*time.Millisecond), quiet)
}

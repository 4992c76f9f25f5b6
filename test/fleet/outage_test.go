package fleet

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/certagent/certagent/internal/fleetrig"
)

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

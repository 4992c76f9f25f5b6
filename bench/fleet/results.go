package main

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/certagent/certagent/internal/fleetrig"
)

// ticksPerSec is USER_HZ, the unit of /proc/PID/stat's CPU times.
const ticksPerSec = 100

// results are the figures of one run.
type results struct {
	n                     int
	started, start, ended time.Time // rig ready; daemons started; end
	// per host: issue and renewal events, in order
	issues, renewals [][]fleetrig.Event
	failures         [][]fleetrig.Event
	issued           int
	allIssued        time.Duration // start to the last first issuance

	obsMinutes   float64
	obsRenewals  int
	perSecond    map[int64]int // renewals per second in the window
	rssKB, pssKB []int64
	cpuSecs      float64
	cpuWall      time.Duration

	down, back      time.Time
	failedInOutage  int
	recovered       int
	recoveryAll     time.Duration // back to the last host's first renewal
	recoverySeconds map[int64]int
	expired         int

	caRequests int
	caPeak     int
	caSpan     time.Duration
	caByPath   map[string]int
}

func (m *results) collect(hosts []*fleetrig.Host) {
	m.issues, m.renewals, m.failures = nil, nil, nil
	m.issued, m.allIssued = 0, 0
	for _, h := range hosts {
		ev, _ := h.Events()
		var is, rn, fl []fleetrig.Event
		for _, e := range ev {
			switch e.Str("event") {
			case "issued":
				is = append(is, e)
			case "renewed":
				rn = append(rn, e)
			case "renew_failed":
				fl = append(fl, e)
			}
		}
		if len(is) > 0 {
			m.issued++
			m.allIssued = max(m.allIssued, is[0].Time.Sub(m.start))
		}
		m.issues, m.renewals, m.failures = append(m.issues, is), append(m.renewals, rn), append(m.failures, fl)
	}
}

// steady counts the renewals inside [from, to) and their seconds.
func (m *results) steady(from, to time.Time) {
	m.obsMinutes = to.Sub(from).Minutes()
	m.perSecond = map[int64]int{}
	for _, rs := range m.renewals {
		for _, e := range rs {
			if !e.Time.Before(from) && e.Time.Before(to) {
				m.obsRenewals++
				m.perSecond[e.Time.Unix()]++
			}
		}
	}
}

// sampleMemory reads RSS and PSS of every daemon from smaps_rollup.
func (m *results) sampleMemory(hosts []*fleetrig.Host) {
	for _, h := range hosts {
		rss, pss, err := smapsRollup(h.Pid())
		if err != nil {
			continue
		}
		m.rssKB, m.pssKB = append(m.rssKB, rss), append(m.pssKB, pss)
	}
}

func smapsRollup(pid int) (rss, pss int64, err error) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "smaps_rollup"))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(fs[1], 10, 64)
		switch fs[0] {
		case "Rss:":
			rss = v
		case "Pss:":
			pss = v
		}
	}
	return rss, pss, sc.Err()
}

// cpuOf sums utime+stime of the daemons, in ticks.
func cpuOf(hosts []*fleetrig.Host) float64 {
	var sum int64
	for _, h := range hosts {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(h.Pid()), "stat"))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		s, _ := strconv.ParseInt(f[12], 10, 64)
		sum += u + s
	}
	return float64(sum)
}

// recovery: which hosts failed during the outage, how fast each renewed
// after step-ca returned, and whether any cert expired on the way.
func (m *results) recovery() {
	m.recoverySeconds = map[int64]int{}
	for i, rs := range m.renewals {
		for _, e := range m.failures[i] {
			if e.Time.After(m.down) {
				m.failedInOutage++
				break
			}
		}
		for _, e := range rs {
			if e.Time.After(m.back) {
				m.recovered++
				m.recoveryAll = max(m.recoveryAll, e.Time.Sub(m.back))
				m.recoverySeconds[e.Time.Unix()]++
				break
			}
		}
		var notAfter time.Time
		for _, e := range append(append([]fleetrig.Event(nil), m.issues[i]...), rs...) {
			if !notAfter.IsZero() && e.Time.After(notAfter) {
				m.expired++
			}
			notAfter, _ = time.Parse(time.RFC3339, e.Str("not_after"))
		}
		if !notAfter.IsZero() && m.ended.After(notAfter) {
			m.expired++
		}
	}
}

// caLoad: step-ca's requests per second over the run, and its busiest second.
// Requests from the CA's own namespace (the rig's health checks and
// tokens) are not the fleet's and are left out.
func (m *results) caLoad(reqs []fleetrig.Request, caIP string) {
	m.caByPath = map[string]int{}
	per := map[int64]int{}
	var first, last time.Time
	for _, r := range reqs {
		if r.Time.Before(m.start.Truncate(time.Second)) || hostOf(r.Remote) == caIP {
			continue
		}
		m.caRequests++
		m.caByPath[pathKind(r.Path)]++
		per[r.Time.Unix()]++
		if first.IsZero() {
			first = r.Time
		}
		last = r.Time
	}
	for _, c := range per {
		m.caPeak = max(m.caPeak, c)
	}
	m.caSpan = last.Sub(first) + time.Second
}

func pathKind(p string) string {
	p = strings.Trim(p, `"`)
	switch {
	case strings.HasPrefix(p, "/root/"):
		return "/root/…"
	case strings.HasPrefix(p, "/provisioners"):
		return "/provisioners…"
	}
	return p
}

// histogram turns renewals per second into: how many seconds saw k renewals.
func histogram(perSecond map[int64]int) []int {
	var h []int
	for _, c := range perSecond {
		for len(h) <= c {
			h = append(h, 0)
		}
		h[c]++
	}
	return h
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]int64(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func minMax(v []int64) (lo, hi int64) {
	for i, x := range v {
		if i == 0 || x < lo {
			lo = x
		}
		hi = max(hi, x)
	}
	return lo, hi
}

// hostOf strips a port from a remote address, if it has one.
func hostOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i > 0 && strings.Count(addr, ":") == 1 {
		return addr[:i]
	}
	return addr
}

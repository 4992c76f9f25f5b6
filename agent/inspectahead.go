package agent

import (
	"crypto/x509"
	"runtime"
	"sync"
	"time"

	"github.com/certagent/certagent/agent/pki"
)

// inspection is what reading a cert's files found (InspectCert).
type inspection struct {
	rep        pki.Report
	keyRemoved bool
}

// inspectAhead reads the files of the certs want selects on every CPU
// (reading, parsing and verifying is about 0.25 ms of CPU per cert, one
// cert after another it made a 10,000-cert start take seconds) and
// returns the results for the Run goroutine to apply.
func (a *Agent) inspectAhead(sts []*certState, want func(*certState) bool, roots map[string][]*x509.Certificate, now time.Time) map[*certState]inspection {
	var sel []*certState
	for _, st := range sts {
		if want(st) {
			sel = append(sel, st)
		}
	}
	res := make([]inspection, len(sel))
	a.parallel(len(sel), func(i int) { res[i] = a.readCert(sel[i], roots[sel[i].cfg.Issuer], now) })
	out := make(map[*certState]inspection, len(sel))
	for i, st := range sel {
		out[st] = res[i]
	}
	return out
}

// readBack reads the files of every successful outcome back, on every
// CPU, before applyOutcome applies them one by one.
func (a *Agent) readBack(outs []outcome, roots map[string][]*x509.Certificate, now time.Time) {
	a.parallel(len(outs), func(i int) {
		if o := &outs[i]; o.err == nil {
			o.files = a.readCert(o.st, roots[o.st.cfg.Issuer], now)
		}
	})
}

// parallel calls fn(0..n-1) on GOMAXPROCS goroutines and returns when all
// are done, beating for the watchdog meanwhile.
func (a *Agent) parallel(n int, fn func(i int)) {
	if n == 0 {
		return
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(n, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := range n {
		if i%256 == 0 {
			a.beat()
		}
		next <- i
	}
	close(next)
	wg.Wait()
}

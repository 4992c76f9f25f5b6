package agent

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/agent/store"
	"github.com/certagent/certagent/internal/failpoint"
)

// maxBatch bounds the sets of one group commit (and so the size of its
// journal record).
const maxBatch = 1000

// groupCommit writes the sets the issuances of one pass produce with
// store.CommitBatch: each batch holds every set that finished while the
// previous batch was being written, so the journal and directory fsyncs
// are shared by many certs when issuance outpaces the disk (a local CA)
// and a cert is still committed as soon as the disk is free when it
// does not (ACME). One goroutine owns the batches; add may be called from
// any goroutine, wait once, by the owner of the pass.
//
// Each committed cert's files are read back (observe) as soon as its
// batch is written, on their own goroutines, while the next batch is
// being issued and written: the pass's goroutine, which applies the
// outcomes one after another, then only takes the observations in.
type groupCommit struct {
	store   *store.Store
	observe observeFunc    // nil: the pass reads the files itself
	wake    chan struct{}  // capacity 1: "the queue is not empty"
	done    chan struct{}  // closed when the writer has written everything
	reads   sync.WaitGroup // the observations under way
	readers chan struct{}  // bounds them to the CPUs

	mu     sync.Mutex // guards queue, closed and outs
	room   *sync.Cond // on mu: the queue is shorter than maxBatch again
	queue  []queuedSet
	closed bool
	outs   []outcome
}

// observeFunc observes a committed cert given the files committed and,
// when its issuer signed it in this process, the fact that its leaf's
// signature was checked (nil otherwise).
type observeFunc func(st *certState, files []store.File, v *pki.Vouched) observation

type queuedSet struct {
	st      *certState
	leaf    *leafSummary
	files   []store.File
	vouched *pki.Vouched // nil: nothing vouched for
}

// startGroupCommit starts the writer of one pass. observe, when not nil,
// observes a committed cert given the files committed; it must be safe
// to call concurrently.
func startGroupCommit(s *store.Store, observe observeFunc) *groupCommit {
	g := &groupCommit{store: s, observe: observe, wake: make(chan struct{}, 1), done: make(chan struct{}),
		readers: make(chan struct{}, runtime.GOMAXPROCS(0))}
	g.room = sync.NewCond(&g.mu)
	go g.writer()
	return g
}

// add queues an issued set (b, and files, its output) for the next
// batch, or records the failure of an issuance (err, nothing to write);
// cancelled says the daemon was shutting down.
func (g *groupCommit) add(st *certState, b *Bundle, files []store.File, err error, cancelled bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil {
		g.outs = append(g.outs, outcome{st: st, err: err, cancelled: cancelled})
		return
	}
	// At most one batch waits while one is written: a CA that issues
	// faster than the disk commits waits here rather than holding
	// thousands of issued sets in memory (their batches would be no
	// larger: maxBatch bounds them).
	for len(g.queue) >= maxBatch {
		g.room.Wait()
	}
	q := queuedSet{st: st, leaf: summarize(b.Leaf), files: files}
	if b.SignedBy != nil {
		q.vouched = &pki.Vouched{Leaf: b.Leaf.Raw, CA: b.SignedBy}
	}
	g.queue = append(g.queue, q)
	select {
	case g.wake <- struct{}{}:
	default:
	}
}

// wait lets the writer finish the queue, calling beat every second
// meanwhile (the watchdog), and returns every outcome.
func (g *groupCommit) wait(beat func()) []outcome {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-g.done:
			g.reads.Wait() // started by the writer, which is gone
			return g.outs  // no lock needed either
		case <-t.C:
			beat()
		}
	}
}

func (g *groupCommit) writer() {
	defer close(g.done)
	for range g.wake {
		for {
			g.mu.Lock()
			n := min(len(g.queue), maxBatch)
			batch := g.queue[:n:n]
			g.queue = g.queue[n:]
			closed := g.closed && len(g.queue) == 0
			g.room.Broadcast()
			g.mu.Unlock()
			if n > 0 {
				g.commit(batch)
			}
			if closed && n == 0 {
				return
			}
			if n == 0 {
				break
			}
		}
	}
}

// commit writes one batch. The watcher is not muted: muting would hide an
// outside change made just after this write. The event our own rename
// causes costs one inspection that finds the files as they should be.
func (g *groupCommit) commit(batch []queuedSet) {
	sets := make([]store.Set, len(batch))
	for i, q := range batch {
		sets[i] = store.Set{Cert: q.st.name, Files: q.files, Intents: intentsFor(q.st.cfg)}
	}
	res, errs := g.store.CommitBatch(sets)
	outs := make([]outcome, len(batch))
	var reads []int
	for i, q := range batch {
		outs[i] = outcome{st: q.st, leaf: q.leaf, changed: res[i].Changed}
		if errs[i] != nil {
			outs[i] = outcome{st: q.st, err: fmt.Errorf("write: %w", errs[i])}
			continue
		}
		failpoint.Hit("agent-after-commit")
		if g.observe != nil {
			outs[i].obs = new(observation)
			reads = append(reads, i)
		}
	}
	g.startReads(batch, outs, reads)
	g.mu.Lock()
	g.outs = append(g.outs, outs...)
	g.mu.Unlock()
}

// startReads fills outs[i].obs with a reading of batch[i]'s files for
// each i of reads, at most one per CPU at a time (across batches), on
// other goroutines than the writer's, which goes on with the next batch.
// wait returns once every reading is done.
func (g *groupCommit) startReads(batch []queuedSet, outs []outcome, reads []int) {
	if len(reads) == 0 {
		return
	}
	g.reads.Add(1)
	go func() {
		defer g.reads.Done()
		var wg sync.WaitGroup
		for _, i := range reads {
			g.readers <- struct{}{}
			wg.Add(1)
			go func(q queuedSet, obs *observation) {
				defer wg.Done()
				defer func() { <-g.readers }()
				*obs = g.observe(q.st, q.files, q.vouched)
			}(batch[i], outs[i].obs)
		}
		wg.Wait()
	}()
}

package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/config"
	"github.com/certagent/certagent/agent/localca"
	"github.com/certagent/certagent/agent/store"
	"github.com/hashicorp/go-hclog"
)

// BenchmarkHeapPerCert reports the live heap an agent keeps per managed
// cert once a pass over N local-CA certs is done (b.N is ignored: the
// figure is B/cert at N = 100 and N = 1,000, the difference over the
// difference, so fixed costs cancel). CERTAGENT_HEAP_PROFILE=FILE writes
// a heap profile of the 1,000-cert agent.
func BenchmarkHeapPerCert(b *testing.B) {
	heapPerCert(b, false)
}

// BenchmarkHeapPerCertSettled is BenchmarkHeapPerCert for a daemon whose
// files have settled: a second agent, started over the first one's files
// once their ctimes are older than the inspection cache's settle time,
// caches each cert's clean inspection, as a running daemon does. The
// figure includes those cache entries. CERTAGENT_HEAP_PROFILE applies to
// it too.
func BenchmarkHeapPerCertSettled(b *testing.B) {
	heapPerCert(b, true)
}

func heapPerCert(b *testing.B, settled bool) {
	for b.Loop() {
		small, _ := liveAgentHeap(b, 100, settled)
		large, keep := liveAgentHeap(b, 1000, settled)
		b.ReportMetric(float64(large-small)/900, "B/cert")
		b.ReportMetric(float64(large)/(1<<20), "MiB@1000")
		runtime.KeepAlive(keep)
	}
}

// settleWait outlasts the inspection cache's settle time (2 s by the
// kernel's clock, agent/statecache.go cacheSettle): only files whose
// ctime is older than that are cached.
const settleWait = 2100 * time.Millisecond

func liveAgentHeap(b *testing.B, n int, settled bool) (uint64, *agent.Agent) {
	dir := b.TempDir()
	var sb strings.Builder
	fmt.Fprintf(&sb, "[agent]\nstate_dir = %q\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n", filepath.Join(dir, "state"))
	for i := range n {
		fmt.Fprintf(&sb, "[certs.c%d]\nissuer = \"ca\"\ndns_names = [\"c%d.bench.example\"]\ncert_file = %q\nkey_file = %q\n",
			i, i, filepath.Join(dir, "out", fmt.Sprintf("c%d.crt", i)), filepath.Join(dir, "out", fmt.Sprintf("c%d.key", i)))
	}
	cfg, err := config.Parse("heap.toml", []byte(sb.String()), config.Options{SkipFileChecks: true})
	if err != nil {
		b.Fatal(err)
	}
	a := runAgent(b, cfg)
	if settled {
		// A restarted daemon over the first one's files, as in a running
		// daemon's later passes: each clean inspection is cached.
		time.Sleep(settleWait)
		a = runAgent(b, cfg)
	}
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if p := os.Getenv("CERTAGENT_HEAP_PROFILE"); p != "" && n == 1000 {
		f, err := os.Create(p)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		if err := pprof.WriteHeapProfile(f); err != nil {
			b.Fatal(err)
		}
	}
	return ms.HeapAlloc, a
}

// runAgent makes an agent over cfg and runs one pass.
func runAgent(b *testing.B, cfg *config.Config) *agent.Agent {
	st, err := store.Open(cfg.Agent.StateDir, hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	iss := map[string]agent.Issuer{"ca": localca.New("ca", filepath.Join(cfg.Agent.StateDir, "ca", "ca"), cfg.Issuers["ca"])}
	a, err := agent.New(agent.Options{Config: cfg, Issuers: iss, Store: st, Logger: hclog.NewNullLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := a.RenewOnce(context.Background(), nil, false); err != nil {
		b.Fatal(err)
	}
	return a
}

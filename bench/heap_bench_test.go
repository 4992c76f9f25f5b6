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
	for b.Loop() {
		small, _ := liveAgentHeap(b, 100)
		large, keep := liveAgentHeap(b, 1000)
		b.ReportMetric(float64(large-small)/900, "B/cert")
		b.ReportMetric(float64(large)/(1<<20), "MiB@1000")
		runtime.KeepAlive(keep)
	}
}

func liveAgentHeap(b *testing.B, n int) (uint64, *agent.Agent) {
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

package agent

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent/config"
)

// TestHookEnvironmentCarriesNoDaemonSecrets: the daemon's own environment
// may hold secrets (a DNS provider's token from dns_env_file, systemd's
// credentials directory). pre_exec and on_failure hooks get only the
// documented CERTAGENT_* variables, PATH and LANG.
func TestHookEnvironmentCarriesNoDaemonSecrets(t *testing.T) {
	t.Setenv("CLOUDFLARE_DNS_API_TOKEN", "s3cret-dns")
	t.Setenv("CREDENTIALS_DIRECTORY", "/run/credentials/certagent.service")
	st := &certState{name: "web", cfg: &config.Cert{Name: "web", CertFile: "/srv/web/cert.pem", KeyFile: "/srv/web/key.pem"},
		lastErr: "acme: rateLimited"}
	for _, stage := range []string{"pre_exec", "on_failure"} {
		out, code, err := runHookCommand(context.Background(), []string{"/usr/bin/env"}, time.Minute, stageEnv(st, stage, "renewal", st.lastErr))
		if err != nil || code != 0 {
			t.Fatalf("%s: /usr/bin/env: %d %v", stage, code, err)
		}
		for _, line := range strings.Split(out, "\n") {
			k, _, _ := strings.Cut(line, "=")
			if !strings.HasPrefix(k, "CERTAGENT_") && k != "PATH" && k != "LANG" {
				t.Errorf("%s hook environment holds %q", stage, line)
			}
		}
		if strings.Contains(out, "s3cret") {
			t.Errorf("%s hook environment holds the daemon's secret:\n%s", stage, out)
		}
	}
}

// TestHookOutputIsBounded: a hook's output is logged, capped at 8 KiB;
// a hook that prints without end (its program echoing a file the
// service user fills, say) must not grow the root daemon's memory with
// it until the timeout. 64 MiB of output cost a few KiB.
func TestHookOutputIsBounded(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, code, err := runHookCommand(context.Background(), []string{"/bin/sh", "-c", "head -c 67108864 /dev/zero | tr '\\0' x"}, time.Minute, []string{"PATH=/usr/bin:/bin"})
	runtime.ReadMemStats(&after)
	if err != nil || code != 0 {
		t.Fatalf("hook: %d %v", code, err)
	}
	if len(out) > 8192+len("…") || !strings.HasSuffix(out, "…") {
		t.Errorf("hook output is %d bytes, want it capped at 8 KiB and marked cut", len(out))
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("64 MiB of hook output allocated %d MiB in the daemon", grew>>20)
	}
}

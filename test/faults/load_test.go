package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// loadConfig manages n ec256 certs; the first due of them get a new SAN,
// which the certs on disk lack, so they are all due at once.
func loadConfig(n, due int) string {
	var b strings.Builder
	b.WriteString("[agent]\nstate_dir = \"{{state}}\"\nlog_level = \"info\"\n\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n")
	for i := 0; i < n; i++ {
		extra := ""
		if i < due {
			extra = fmt.Sprintf(", \"l%04d-new.example.com\"", i)
		}
		fmt.Fprintf(&b, "\n[certs.l%04d]\nissuer = \"ca\"\ndns_names = [\"l%04d.example.com\"%s]\nkey_type = \"ec256\"\nvalidity = \"30d\"\n", i, i, extra)
		fmt.Fprintf(&b, "cert_file = \"{{out}}/l%04d/cert.pem\"\nkey_file = \"{{out}}/l%04d/key.pem\"\n", i, i)
	}
	return b.String()
}

// TestLoadThousandCerts issues 1,000 certs, then makes 10% due at once
// and lets the daemon's first pass renew them: the pass completes, every
// pair is correct, and the peak RSS is printed.
func TestLoadThousandCerts(t *testing.T) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("CERTAGENT_LOAD_CERTS")); err == nil && v > 0 {
		n = v
	}
	if testing.Short() {
		n = 100
	}
	due := n / 10
	e := newEnv(t)
	if os.Geteuid() == 0 {
		// Keep the disk's fsync latency out of a CPU/memory measure.
		mountTmpfs(t, e.dir, "256m")
	}
	e.write(t, loadConfig(n, 0))
	start := time.Now()
	r := certagent(t, "renew", "--config", e.config)
	if r.code != 0 {
		t.Fatalf("initial issuance: %s", r)
	}
	issueTime := time.Since(start)
	issueRSS := r.maxRSSKiB

	e.write(t, loadConfig(n, due))
	before := map[int]string{}
	for i := 0; i < n; i++ {
		before[i] = pemLine2(e.path(fmt.Sprintf("l%04d/cert.pem", i)))
	}
	start = time.Now()
	d := startDaemon(t, e)
	d.await(due, 2*time.Minute, "event=renewed")
	passTime := time.Since(start)
	hwm := procStatus(t, d.Pid(), "VmHWM")
	rss := procStatus(t, d.Pid(), "VmRSS")
	time.Sleep(500 * time.Millisecond)
	if got := d.count("event=renewed"); got != due {
		t.Errorf("%d renewals, want exactly %d", got, due)
	}
	bad, renewed := 0, 0
	for i := 0; i < n; i++ {
		c, k := e.path(fmt.Sprintf("l%04d/cert.pem", i)), e.path(fmt.Sprintf("l%04d/key.pem", i))
		if err := pairMatches(c, k); err != nil {
			bad++
			t.Errorf("l%04d: %v", i, err)
		}
		if pemLine2(c) != before[i] {
			renewed++
			if i >= due {
				t.Errorf("l%04d renewed but was not due", i)
			}
		}
	}
	if renewed != due {
		t.Errorf("%d certs changed on disk, want %d", renewed, due)
	}
	if !d.alive() {
		t.Fatal("daemon died")
	}
	figure(t, "load: %d certs (ec256) issued in %s (renew peak RSS %d MiB); %d due at once renewed by the daemon in %s, daemon VmHWM %s VmRSS %s; %d/%d pairs correct",
		n, issueTime.Round(100*time.Millisecond), issueRSS/1024, due, passTime.Round(100*time.Millisecond), hwm, rss, n-bad, n)
}

// procStatus reads one field of /proc/PID/status, e.g. "VmHWM".
func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// Package fleet runs N certagent daemons (CERTAGENT_FLEET_N, default 20),
// each in its own network namespace, with one shared config, against one
// real step-ca v0.30.2 whose certs live 3 minutes, and checks what a
// cluster operator relies on: enrollment by token, renewal over mTLS,
// spread, recovery from a CA outage, root rotation and OpenFL's token
// form. It needs root and runs in real time (about 8 minutes).
package fleet

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/fleetrig"
	"github.com/certagent/certagent/internal/testbin"
)

// bin is the certagent binary under test.
var bin string

func TestMain(m *testing.M) {
	b := testbin.MustBuild(false)
	bin = b.Release
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

const (
	certLife = 3 * time.Minute
	outage   = 60 * time.Second
	// sub is the subject and only SAN of every host's cert: one config.
	sub = fleetrig.CertName + ".fleet.internal"
)

func fleetSize(t *testing.T) int {
	n := 20
	if v := os.Getenv("CERTAGENT_FLEET_N"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 2 || n >= fleetrig.MaxHosts {
			t.Fatalf("CERTAGENT_FLEET_N=%q: want 2..%d", v, fleetrig.MaxHosts-1)
		}
	}
	return n
}

// TestFleet is the table, in one real-time run:
//
//	issuance      every host enrolls with its token
//	token         deleted once used
//	renewal       every host renews over mTLS at least twice
//	spread        with one shared config, renewals fall in >= N/2 distinct seconds
//	CA outage     step-ca killed for 60 s: every host recovers, no cert expires,
//	              every retry is at most max(5 s, remaining lifetime/4) away,
//	              the retries after the CA returns spread over time
//	root rotation a second root added as a federated root reaches every ca_file
//	OpenFL token  bootstraps a host with no root_fingerprint
//
// One more host renews an IP-only cert from step-ca's ACME provisioner
// over http-01: its cert's subject, as openssl prints it, has no IP.
func TestFleet(t *testing.T) {
	if os.Geteuid() != 0 {
		testbin.Missing(t, "the fleet test needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "mount", "sh"} {
		testbin.NeedTool(t, tool)
	}
	n := fleetSize(t)
	// The fleet, one host for the OpenFL token, one on the ACME provisioner.
	rig := newRig(t, n+2)
	f := &fleet{t: t, rig: rig, hosts: rig.Hosts[:n], extra: rig.Hosts[n], acmeHost: rig.Hosts[n+1]}
	start := time.Now()

	f.startACMEHost()
	f.enroll()
	t.Logf("%d hosts enrolled in %s", n, time.Since(start).Round(time.Second))
	f.tokensDeleted()

	f.awaitRenewals(2, 3*certLife)
	f.renewedOverMTLS(2)
	f.spread()

	back := f.outage()
	f.recovered(back)
	f.retryBound()
	f.retriesSpread(back)

	f.openFLToken()
	f.acmeIPOnly()
	f.rotated()
	f.noneExpired()
	f.noErrorsBut()
	t.Logf("fleet of %d done in %s", n, time.Since(start).Round(time.Second))
}

func newRig(t *testing.T, hosts int) *fleetrig.Rig {
	t.Helper()
	opts := fleetrig.Options{
		Hosts:     hosts,
		Dir:       t.TempDir(),
		Certagent: bin,
		StepCA:    testbin.PinnedTool(t, "step-ca", "test/setup.d/55-stepca.sh"),
		Step:      testbin.PinnedTool(t, "step", "test/setup.d/56-step-cli.sh"),
		CertLife:  certLife,
	}
	inotify := readInotifyLimit(t)
	rig, err := fleetrig.New(opts)
	if err != nil {
		t.Fatalf("fleet rig: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			showLogs(t, rig)
		}
		if err := rig.Close(); err != nil {
			t.Errorf("rig cleanup: %v", err)
		}
		assertNoNamespacesLeft(t)
		if got := readInotifyLimit(t); got != inotify {
			t.Errorf("fs.inotify.max_user_instances is %s after the run, want %s as before", got, inotify)
		}
	})
	return rig
}

func readInotifyLimit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Command fleet is bench/fleet: N >= 200 certagent daemons, each in its
// own network namespace with one shared config, against one real step-ca
// v0.30.2 (the rig of test/fleet, internal/fleetrig), measured in real
// time. It writes the "Fleet" section of docs/benchmarks.md (kept in
// docs/benchmarks/fleet.md, which bench/run splices back in).
//
//	go run ./bench/fleet [-n 200] [-life 3m] [-observe 5m] [-outage 60s] [-write]
//
// It needs root, ip(8), and step-ca and the step CLI as test/setup.d
// installs them (CERTAGENT_TOOLS or .cache/bin). Everything listens
// inside namespaces it creates and removes. It is a tool, not part of the
// product: it may exit with os.Exit.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/certagent/certagent/internal/fleetrig"
)

// subject is every host's cert name: one config.
const subject = fleetrig.CertName + ".fleet.internal"

type params struct {
	n                     int
	life, observe, outage time.Duration
	write                 bool
	root                  string
}

func main() {
	var p params
	flag.IntVar(&p.n, "n", 200, "daemons (each in its own namespace)")
	flag.DurationVar(&p.life, "life", 3*time.Minute, "cert lifetime step-ca issues")
	flag.DurationVar(&p.observe, "observe", 5*time.Minute, "steady-state window for renewal rates, after all issued")
	flag.DurationVar(&p.outage, "outage", 60*time.Second, "how long step-ca is killed for")
	flag.BoolVar(&p.write, "write", false, "write docs/benchmarks/fleet.md and its section of docs/benchmarks.md")
	flag.Parse()
	root, err := repoRoot()
	if err != nil {
		fail(err)
	}
	p.root = root
	if err := run(p); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "bench/fleet: %v\n", err)
	os.Exit(1)
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[fleet %s] %s\n", time.Now().Format(time.TimeOnly), fmt.Sprintf(format, args...))
}

func run(p params) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces)")
	}
	if err := os.MkdirAll(filepath.Join(p.root, "bench", "results"), 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Join(p.root, "bench", "results"), "fleet-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "certagent")
	logf("building certagent")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/certagent")
	build.Dir, build.Env = p.root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	stepCA, err := findTool(p.root, "step-ca")
	if err != nil {
		return err
	}
	step, err := findTool(p.root, "step")
	if err != nil {
		return err
	}
	logf("rig: %d namespaces, step-ca, certs of %s", p.n, p.life)
	rig, err := fleetrig.New(fleetrig.Options{Hosts: p.n, Dir: dir, Certagent: bin, StepCA: stepCA, Step: step, CertLife: p.life})
	if err != nil {
		return err
	}
	defer func() {
		if err := rig.Close(); err != nil {
			logf("cleanup: %v", err)
		}
	}()
	m, err := measure(p, rig, bin)
	if err != nil {
		return err
	}
	page := m.section(p)
	fmt.Print(page)
	if !p.write {
		return nil
	}
	return writeSection(p.root, page)
}

// measure runs the scenario: enroll all, observe steady renewals, sample
// memory and CPU, kill step-ca for the outage, watch the recovery.
func measure(p params, rig *fleetrig.Rig, bin string) (*results, error) {
	m := &results{n: p.n, started: time.Now()}
	fp, err := rig.CA.Fingerprint()
	if err != nil {
		return nil, err
	}
	cfg := fleetrig.StepConfig(rig.Mount, rig.CA.URL, fp)
	logf("minting %d tokens", p.n)
	for _, h := range rig.Hosts {
		tok, err := rig.CA.Token(subject, subject)
		if err != nil {
			return nil, err
		}
		if err := h.WriteConfig(cfg); err != nil {
			return nil, err
		}
		if err := h.PutToken(tok); err != nil {
			return nil, err
		}
	}
	logf("starting %d daemons", p.n)
	m.start = time.Now()
	for _, h := range rig.Hosts {
		if err := h.Start(bin); err != nil {
			return nil, err
		}
	}
	cpu0 := cpuOf(rig.Hosts)
	if err := waitAll(rig.Hosts, 3*time.Minute, func(ev []fleetrig.Event) bool { return count(ev, "issued") > 0 }); err != nil {
		logf("not every host issued: %v", err)
	}
	m.collect(rig.Hosts)
	logf("%d/%d issued, the last %s after start; observing %s", m.issued, p.n, m.allIssued.Round(time.Millisecond), p.observe)
	obsFrom := time.Now()
	time.Sleep(p.observe / 2)
	m.sampleMemory(rig.Hosts)
	time.Sleep(p.observe - p.observe/2)
	obsTo := time.Now()
	cpu1 := cpuOf(rig.Hosts)
	m.cpuSecs, m.cpuWall = (cpu1-cpu0)/ticksPerSec, obsTo.Sub(m.start)
	m.collect(rig.Hosts)
	m.steady(obsFrom, obsTo)

	logf("outage: killing step-ca for %s", p.outage)
	rig.CA.Kill()
	m.down = time.Now()
	time.Sleep(p.outage)
	m.back = time.Now() // a host may succeed before step-ca first says healthy
	if err := rig.CA.Start(); err != nil {
		return nil, err
	}
	err = waitAll(rig.Hosts, 2*p.life, func(ev []fleetrig.Event) bool {
		for _, e := range ev {
			if e.Str("event") == "renewed" && e.Time.After(m.back) {
				return true
			}
		}
		return false
	})
	if err != nil {
		logf("recovery incomplete: %v", err)
	}
	time.Sleep(5 * time.Second)
	m.ended = time.Now()
	m.collect(rig.Hosts)
	m.recovery()
	reqs, err := rig.CA.Requests()
	if err != nil {
		return nil, err
	}
	m.caLoad(reqs, rig.Net.CAIP())
	return m, nil
}

// waitAll polls every host's events until cond holds for all of them.
func waitAll(hosts []*fleetrig.Host, within time.Duration, cond func([]fleetrig.Event) bool) error {
	deadline := time.Now().Add(within)
	for {
		missing := 0
		for _, h := range hosts {
			ev, _ := h.Events()
			if !cond(ev) {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d hosts still waiting after %s", missing, len(hosts), within)
		}
		time.Sleep(time.Second)
	}
}

func count(ev []fleetrig.Event, name string) int {
	n := 0
	for _, e := range ev {
		if e.Str("event") == name {
			n++
		}
	}
	return n
}

// findTool looks where test/setup.d installs tools, then on PATH.
func findTool(root, name string) (string, error) {
	for _, d := range []string{os.Getenv("CERTAGENT_TOOLS"), filepath.Join(root, ".cache", "bin")} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found in $CERTAGENT_TOOLS, .cache/bin or $PATH (test/setup.d installs it)", name)
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run from inside the certagent module")
	}
	return filepath.Dir(mod), nil
}

// Package fleetrig runs a fleet of certagent daemons, each in its own
// network namespace, against one real step-ca, for test/fleet and
// bench/fleet. Every address lives in namespaces the rig creates (a
// private /24 on a bridge in the CA's namespace); Close removes them all.
// Only tests and benchmarks import it.
package fleetrig

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// subnet is the private /24 of the rig; it exists only inside the rig's
// namespaces, so it cannot collide with the machine's own addresses.
const subnet = "10.213.0"

// MaxHosts is how many hosts fit in the /24 beside the CA.
const MaxHosts = 250

// nsBase starts the name of every namespace the rig makes; the creating
// process's pid follows, so a later run can tell leftovers of a dead run.
const nsBase = "cafleet"

// Net is the rig's namespaces: the CA's, which holds the bridge, and one
// per host, joined to the bridge by a veth pair.
type Net struct {
	prefix string
	CA     string   // the CA's namespace
	Hosts  []string // host i's namespace
	made   []string // every namespace created, for Close
}

// CAIP is the CA's address on the bridge.
func (n *Net) CAIP() string { return subnet + ".1" }

// HostIP is host i's address.
func (n *Net) HostIP(i int) string { return subnet + "." + strconv.Itoa(i+2) }

// NewNet creates the CA namespace with its bridge and hosts host
// namespaces. On error, whatever was made is removed again.
func NewNet(hosts int) (_ *Net, err error) {
	if hosts < 1 || hosts > MaxHosts {
		return nil, fmt.Errorf("hosts %d: want 1..%d", hosts, MaxHosts)
	}
	sweepStale()
	n := &Net{prefix: fmt.Sprintf("%s%d-", nsBase, os.Getpid())}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	n.CA = n.prefix + "ca"
	if err := n.add(n.CA); err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"-n", n.CA, "link", "add", "br0", "type", "bridge"},
		{"-n", n.CA, "addr", "add", n.CAIP() + "/24", "dev", "br0"},
		{"-n", n.CA, "link", "set", "br0", "up"},
	} {
		if err := ip(args...); err != nil {
			return nil, err
		}
	}
	for i := range hosts {
		if err := n.addHost(i); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func (n *Net) addHost(i int) error {
	ns := fmt.Sprintf("%sh%03d", n.prefix, i)
	if err := n.add(ns); err != nil {
		return err
	}
	n.Hosts = append(n.Hosts, ns)
	veth := "v" + strconv.Itoa(i)
	for _, args := range [][]string{
		{"-n", n.CA, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"-n", n.CA, "link", "set", veth, "master", "br0", "up"},
		{"-n", ns, "addr", "add", n.HostIP(i) + "/24", "dev", "eth0"},
		{"-n", ns, "link", "set", "eth0", "up"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// add creates namespace ns with its loopback up.
func (n *Net) add(ns string) error {
	if err := ip("netns", "add", ns); err != nil {
		return err
	}
	n.made = append(n.made, ns)
	return ip("-n", ns, "link", "set", "lo", "up")
}

// Close deletes every namespace the rig made (their veths and the bridge
// go with them). Processes still inside keep a namespace alive: stop
// them first.
func (n *Net) Close() error {
	var errs []error
	for i := len(n.made) - 1; i >= 0; i-- {
		if err := ip("netns", "del", n.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	n.made = nil
	return errors.Join(errs...)
}

// Exec returns a command that runs name in namespace ns.
func Exec(ns, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// sweepStale deletes namespaces left by a rig whose process is gone (a
// run killed before its cleanup); a live run's namespaces are left alone.
func sweepStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, nsBase)
		if !ok {
			continue
		}
		pid, _, ok := strings.Cut(rest, "-")
		if _, err := strconv.Atoi(pid); !ok || err != nil {
			continue
		}
		if _, err := os.Stat("/proc/" + pid); os.IsNotExist(err) {
			_ = ip("netns", "del", name)
		}
	}
}

func ip(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// RaiseInotify sets fs.inotify.max_user_instances to at least min (every
// daemon holds instances of root's one budget) and returns the function
// that restores the old value.
func RaiseInotify(min int) (restore func() error, err error) {
	const p = "/proc/sys/fs/inotify/max_user_instances"
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	old := strings.TrimSpace(string(b))
	cur, err := strconv.Atoi(old)
	if err != nil {
		return nil, fmt.Errorf("%s: %q: %w", p, old, err)
	}
	if cur >= min {
		return func() error { return nil }, nil
	}
	if err := os.WriteFile(p, []byte(strconv.Itoa(min)), 0o644); err != nil {
		return nil, err
	}
	return func() error { return os.WriteFile(p, []byte(old), 0o644) }, nil
}

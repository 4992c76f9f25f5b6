package cluster

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStepRootRotation: a second root reaches ca_file, then step-ca
// moves to an intermediate under it, and renewal goes on.
//
//  1. The new root is federated (ca.json federatedRoots). Once the
//     trusted set is a day old, a plain `renew` (nothing due) refreshes
//     it from /federation and rewrites ca_file with both roots, through a
//     renewal so that the units act on it.
//  2. step-ca trusts both roots (root = [old, new]); the hosts learn the
//     new root from /roots at their next renewal or daily refresh.
//  3. step-ca then signs, and serves TLS, with an intermediate under the
//     new root. The agent still connects, step-ca accepts its old cert
//     (under the old root) for mutual TLS and rekeys it under the new one.
func TestStepRootRotation(t *testing.T) {
	ca := newStepCA(t)
	h := enrolled(t, ca, `root_fingerprint = "`+ca.fingerprint()+`"`)
	dir := filepath.Dir(ca.dir)
	root2, int2 := filepath.Join(dir, "root2.crt"), filepath.Join(dir, "int2.crt")
	ca.run("certificate", "create", "certagent test Root 2", root2, root2+".key", "--profile", "root-ca", "--no-password", "--insecure")
	ca.run("certificate", "create", "certagent test Intermediate 2", int2, int2+".key", "--profile", "intermediate-ca",
		"--ca", root2, "--ca-key", root2+".key", "--no-password", "--insecure")

	ca.stop()
	ca.editConfig(func(cfg map[string]any) { cfg["federatedRoots"] = []string{root2} })
	ca.start()
	ageTrust(t, h)
	r := h.renew(false)
	cas := readCerts(t, h.path("ca.crt"))
	if len(cas) != 2 || !cas[1].Equal(readCerts(t, root2)[0]) {
		t.Fatalf("ca_file holds %d certs after the federation changed, want the old and the new root", len(cas))
	}
	wantAll(t, "renew log", r.stderr, "the issuer's roots changed")

	ca.stop()
	ca.editConfig(func(cfg map[string]any) { cfg["root"] = []string{ca.Root, root2} })
	ca.start()
	h.renew(true) // every host renews (or refreshes daily) before the switch
	ca.stop()
	ca.editConfig(func(cfg map[string]any) { cfg["crt"], cfg["key"] = int2, int2+".key" })
	ca.Extra = []string{root2}
	ca.start()
	old := leafOf(t, h.path("web.crt"))
	h.renew(true)
	leaf := leafOf(t, h.path("web.crt"))
	if serial(leaf) == serial(old) || !strings.Contains(leaf.Issuer.CommonName, "Intermediate 2") {
		t.Fatalf("renewal after the switch: issuer %q", leaf.Issuer.CommonName)
	}
	if n := ca.count("/1.0/rekey", 201); n != 3 {
		t.Errorf("%d rekeys, want 3", n)
	}
	checkPairRoot(t, root2, h)
}

// ageTrust makes the issuer's trusted set look a day old, as the daily
// refresh finds it.
func ageTrust(t *testing.T, h *host) {
	t.Helper()
	p := filepath.Join(h.state, "step", "fl", "trust.json")
	var st map[string]any
	if err := json.Unmarshal([]byte(readFile(t, p)), &st); err != nil {
		t.Fatal(err)
	}
	st["refreshed_at"] = "2000-01-01T00:00:00Z"
	b, _ := json.Marshal(st)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

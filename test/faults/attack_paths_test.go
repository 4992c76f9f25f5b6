package faults

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// webSet is the cert set of attackBase, owned by the service user.
func (a *attackEnv) webSet() certSpec {
	return certSpec{name: "web", cert: a.path("cert.pem"), key: a.path("key.pem"), fullchain: a.path("fullchain.pem"),
		caFile: a.path("ca.pem"), keyMode: 0o600, certMode: 0o644, uid: a.svc.uid, gid: a.svc.gid}
}

// issueOnce runs the first issuance of a's config, which must succeed.
func (a *attackEnv) issueOnce(t *testing.T) {
	t.Helper()
	if r := certagent(t, "renew", "--config", a.config); r.code != 0 {
		t.Fatalf("initial renew: %s", r)
	}
}

// web2Cert is a cert whose key_file is root's link, in root's own
// directory, to a file in another directory of root's.
const web2Cert = `
[certs.web2]
issuer = "ca"
dns_names = ["web2.example.com"]
key_type = "ec256"
follow_symlinks = true
cert_file = "{{dir}}/rootout/cert.pem"
key_file = "{{dir}}/rootout/key.pem"
`

// web3Cert's key_file is root's link, in root's directory, to a file in
// the service user's directory.
const web3Cert = `
[certs.web3]
issuer = "ca"
dns_names = ["web3.example.com"]
key_type = "ec256"
follow_symlinks = true
cert_file = "{{dir}}/rootout/web3-cert.pem"
key_file = "{{dir}}/rootout/web3-key.pem"
`

// Item 1: with follow_symlinks = true, the service user replaces
// key.pem by a link to a root-owned file and waits for a renewal. Also,
// root's link to a file in the service user's directory, which the user
// replaces by a link to a second decoy. A link is followed only when
// root planted it in a directory only root can write and its whole
// target path is root's too, which web2 shows is still the case.
func attackFollowFinalLink(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	rootOut, rootKeys := a.rootDir(t, "rootout"), a.rootDir(t, "rootkeys")
	if err := os.Symlink(filepath.Join(rootKeys, "web2.key"), filepath.Join(rootOut, "key.pem")); err != nil {
		t.Fatal(err)
	}
	web3Link := filepath.Join(rootOut, "web3-key.pem")
	if err := os.Symlink(a.path("web3.key"), web3Link); err != nil {
		t.Fatal(err)
	}
	a.write(t, attackBase+"follow_symlinks = true\n"+web2Cert)
	a.issueOnce(t)
	decoy3 := a.plantDecoy(t, filepath.Join(a.dir, "decoy-web3"))
	as(t, svc, a.expand(`ln -sfn {{decoy}} {{out}}/key.pem && ln -s `+decoy3+` {{out}}/web3.key`))
	a.write(t, attackBase+"follow_symlinks = true\n"+web2Cert+web3Cert)
	r := certagent(t, "renew", "--force", "--config", a.config)
	t.Logf("renew after the attack: %s", r)
	if r.code == 0 || !strings.Contains(r.stderr, a.path("key.pem")) {
		t.Errorf("renew with the service user's link at key.pem: want a refusal naming %s, got %s", a.path("key.pem"), r)
	}
	if !strings.Contains(r.stderr, "web3: ") {
		t.Errorf("renew through root's link into the service user's directory: want web3 refused, got %s", r)
	}
	a.decoyIntact(t)
	// root's own link in root's own directory is followed.
	if fi, err := os.Lstat(filepath.Join(rootOut, "key.pem")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("root's link rootout/key.pem was replaced (%v)", err)
	}
	if err := pairMatches(filepath.Join(rootOut, "cert.pem"), filepath.Join(rootKeys, "web2.key")); err != nil {
		t.Errorf("follow_symlinks no longer follows root's trusted link: %v", err)
	}
}

// Item 2: the service user (or rsnapshot, or `cp -l`) keeps a second
// hard link to the unchanged ca.pem. Renewal must go on: owner and mode
// are already right, so nothing needs a chmod or chown.
func attackHardLink(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	a.issueOnce(t)
	as(t, svc, a.expand(`mkdir {{out}}/backup && ln {{out}}/ca.pem {{out}}/backup/ca.crt`))
	r := certagent(t, "renew", "--force", "--config", a.config)
	if r.code != 0 {
		t.Errorf("renew with a second hard link to the unchanged ca.pem: want exit 0, got %s", r)
	}
	if err := checkSet(a.webSet()); err != nil {
		t.Error(err)
	}
	if fileHash(a.path("backup/ca.crt")) != fileHash(a.path("ca.pem")) {
		t.Error("the backup link to ca.pem no longer holds the same bytes")
	}
}

// Item 6: the web root belongs to the service user, who points
// .well-known at a directory of root's. Challenge files must not be
// created, written or removed through that link.
func attackWebroot(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	srv := startPebble(t)
	www, victim := a.path("www"), a.rootDir(t, "victim")
	writeFile(t, filepath.Join(victim, "index.html"), []byte("root's page\n"))
	as(t, svc, a.expand(`mkdir {{out}}/www && ln -s {{dir}}/victim {{out}}/www/.well-known`))
	before := snapshot(t, victim)
	a.write(t, attackBase+`
[issuers.le]
type = "acme"
directory = "`+srv.DirectoryURL+`"
ca_bundle = "`+srv.CABundle+`"
email = "ops@example.com"
challenge = "http-01"
webroot = "`+www+`"

[certs.site]
issuer = "le"
dns_names = ["site.example.com"]
cert_file = "{{out}}/site/cert.pem"
key_file = "{{out}}/site/key.pem"
`)
	r := certagent(t, "renew", "--config", a.config)
	noPanic(t, "renew", r.stderr)
	t.Logf("renew after the attack: %s", r)
	if d := diffSnapshot(before, snapshot(t, victim)); len(d) > 0 {
		t.Errorf("challenge files written through the service user's .well-known link: %v\n%s", d, r)
	}
}

// Item 7: the service user links cert.pem of two certs at a root-only
// key and at a path that does not exist. What they can see (status, logs
// and the world-readable metrics, fetched as the other user) must not
// tell the two apart, nor name what the root-only file holds.
func attackInspectionLeak(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	port := freePort(t)
	var b strings.Builder
	b.WriteString("[agent]\nstate_dir = \"{{state}}\"\nmetrics_listen = \"127.0.0.1:" + port + "\"\n\n[issuers.ca]\ntype = \"local\"\nkey_type = \"ec256\"\n")
	for _, n := range []string{"alpha", "bravo"} {
		b.WriteString(strings.ReplaceAll(`
[certs.NAME]
issuer = "ca"
dns_names = ["NAME.example.com"]
key_type = "ec256"
owner = "certagent-svc"
cert_file = "{{out}}/NAME/cert.pem"
key_file = "{{out}}/NAME/key.pem"
`, "NAME", n))
	}
	a.write(t, b.String())
	a.issueOnce(t)
	caKey := filepath.Join(a.state, "ca", "ca", "ca.key")
	if _, err := os.Stat(caKey); err != nil {
		t.Fatalf("the local CA key is not where the attack expects it: %v", err)
	}
	for _, n := range []string{"alpha", "bravo"} {
		if err := os.Chown(a.path(n), svc.uid, svc.gid); err != nil {
			t.Fatal(err)
		}
	}
	as(t, svc, a.expand(`ln -sfn `+caKey+` {{out}}/alpha/cert.pem && ln -sfn `+filepath.Join(a.state, "ca", "ca", "nothing.key")+` {{out}}/bravo/cert.pem`))

	d := startDaemon(t, a.env)
	d.await(1, 20*time.Second, "certagent started")
	var metrics string
	eventually(t, 30*time.Second, "metrics for alpha and bravo", func() bool {
		metrics = fetchAs(other, "http://127.0.0.1:"+port+"/metrics")
		return strings.Contains(metrics, `cert="bravo"`) && strings.Contains(metrics, `cert="alpha"`)
	})
	st := certagent(t, "status", "--json", "--config", a.config)
	files := certagent(t, "check", "--files", "--config", a.config)
	seen := map[string]string{
		"metrics (as " + other.name + ")": metricLines(metrics),
		"status --json":                   st.stdout,
		"check --files":                   files.stdout + files.stderr,
		"daemon log":                      d.text(),
	}
	for what, text := range seen {
		for _, leak := range []string{"PRIVATE KEY", "EC PRIVATE", "block type", "BEGIN"} {
			if strings.Contains(text, leak) {
				t.Errorf("%s names what the root-only file holds (%q):\n%s", what, leak, text)
			}
		}
		if al, br := certView(text, "alpha"), certView(text, "bravo"); al != br {
			t.Errorf("%s tells a link to a root-only key from a link to nothing:\nalpha: %s\nbravo: %s", what, al, br)
		}
	}
}

// Item 10: remove_key_after_start deletes key_file once the unit is
// active. Between the write and the removal the service user swaps the
// cert's directory for a link to another service's root-owned
// directory; the fake service manager runs the swap while the unit
// "reloads", so the race is won every time.
func attackRemoveKeyParent(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	victim := a.rootDir(t, "othersvc")
	mkdirOwned(t, a.path("web"), svc)
	a.write(t, strings.ReplaceAll(attackBase, "{{out}}/", "{{out}}/web/")+`units = ["web.service"]
action = "reload"
settle = "1s"
remove_key_after_start = true
`)
	swap := a.expand(`mv {{out}}/web {{out}}/web.real && ln -s {{dir}}/othersvc {{out}}/web`)
	// The fake service manager calls back from its own goroutine.
	var swapped atomic.Bool
	bus := startFakeSystemd(t, "web.service", func() {
		if !swapped.CompareAndSwap(false, true) {
			return
		}
		// The other service's directory: its cert and, as key.pem, the decoy.
		b, err := os.ReadFile(a.path("web/cert.pem"))
		if err != nil {
			t.Errorf("read cert before the swap: %v", err)
		}
		writeFile(t, filepath.Join(victim, "cert.pem"), b)
		if err := os.Link(a.decoy, filepath.Join(victim, "key.pem")); err != nil {
			t.Error(err)
		}
		if out, err := asUser(svc, swap); err != nil {
			t.Errorf("swap: %v\n%s", err, out)
		}
	})
	r := runBin(t, bin, []string{"DBUS_SYSTEM_BUS_ADDRESS=" + bus}, "renew", "--config", a.config)
	if !swapped.Load() {
		t.Fatalf("the unit action never reached the fake service manager: %s", r)
	}
	t.Logf("renew with the swap: %s", r)
	if _, err := os.Lstat(filepath.Join(victim, "key.pem")); err != nil {
		t.Errorf("remove_key_after_start removed the other service's key.pem through the swapped directory: %v\n%s", err, r)
	}
	// The decoy's second name is root's doing, not certagent's.
	_ = os.Remove(filepath.Join(victim, "key.pem"))
}

// held: the service user replaces key.pem by a link to the decoy
// (follow_symlinks off): refused, nothing written through it.
func attackHeldKeySymlink(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	a.issueOnce(t)
	as(t, svc, a.expand(`ln -sfn {{decoy}} {{out}}/key.pem`))
	r := certagent(t, "renew", "--force", "--config", a.config)
	wantExit(t, "renew through the service user's key link", r, 1, "refusing to write "+a.path("key.pem"))
}

// held: the service user swaps the cert's directory for a link to a
// directory of root's.
func attackHeldDirSymlink(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	victim := a.rootDir(t, "victim")
	mkdirOwned(t, a.path("web"), svc)
	a.write(t, strings.ReplaceAll(attackBase, "{{out}}/", "{{out}}/web/"))
	a.issueOnce(t)
	as(t, svc, a.expand(`mv {{out}}/web {{out}}/web.old && ln -s {{dir}}/victim {{out}}/web`))
	r := certagent(t, "renew", "--force", "--config", a.config)
	wantExit(t, "renew through the service user's directory link", r, 1, "refusing to follow symlink "+a.path("web"))
	if ents, _ := os.ReadDir(victim); len(ents) > 0 {
		t.Errorf("files written through the directory link: %v", ents)
	}
}

// held: a FIFO at the key path must not block certagent.
func attackHeldFIFO(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	a.issueOnce(t)
	as(t, svc, a.expand(`rm {{out}}/key.pem && mkfifo {{out}}/key.pem`))
	for _, args := range [][]string{{"status", "--config", a.config}, {"renew", "--config", a.config}} {
		r, ok := runBounded(t, 60*time.Second, args...)
		if !ok {
			t.Fatalf("certagent %s blocked on the FIFO at key.pem", args[0])
		}
		noPanic(t, args[0], r.stderr)
	}
	if err := checkSet(a.webSet()); err != nil {
		t.Errorf("after the FIFO: %v", err)
	}
}

// held: a 16 GiB sparse file at the cert path is neither read nor
// kept: the cert is re-issued and certagent's memory stays small.
func attackHeldHugeFile(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	a.issueOnce(t)
	as(t, svc, a.expand(`truncate -s 16G {{out}}/cert.pem`))
	r, ok := runBounded(t, 60*time.Second, "renew", "--config", a.config)
	if !ok {
		t.Fatal("renew did not return with a 16 GiB cert.pem")
	}
	wantExit(t, "renew with a 16 GiB cert.pem", r, 0)
	if err := checkSet(a.webSet()); err != nil {
		t.Errorf("after the huge file: %v", err)
	}
}

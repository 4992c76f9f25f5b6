package faults

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Item 8a: state_dir belongs to the service user (who could swap in a
// CA of their own), or sits in a directory they own. certagent must
// refuse to start, naming the first untrusted directory, and write
// nothing.
func attackStateDirOwner(t *testing.T, svc, other account) {
	for _, c := range []struct {
		name string
		// state makes the state dir and returns it and the directory
		// the refusal must name (the first one not trusted).
		state func(a *attackEnv) (state, bad string)
	}{
		{"owned by the service user", func(a *attackEnv) (string, string) {
			mkdirOwned(t, a.state, svc)
			return a.state, a.state
		}},
		{"inside the service user's directory", func(a *attackEnv) (string, string) {
			p := a.path("state")
			if err := os.Mkdir(p, 0o700); err != nil {
				t.Fatal(err)
			}
			return p, a.out
		}},
	} {
		a := newAttackEnv(t, svc, other)
		state, bad := c.state(a)
		if err := os.Chmod(state, 0o700); err != nil {
			t.Fatal(err)
		}
		a.write(t, strings.Replace(attackBase, `state_dir = "{{state}}"`, `state_dir = "`+state+`"`, 1))
		for _, cmd := range []string{"renew", "run"} {
			r, ok := runBounded(t, 60*time.Second, cmd, "--config", a.config)
			if !ok {
				t.Fatalf("state dir %s: certagent %s started and kept running", c.name, cmd)
			}
			if r.code == 0 || !containsAll(r.stderr, []string{`key "state_dir"`, "directory " + bad + " "}) {
				t.Errorf("state dir %s: certagent %s: want a refusal naming state_dir and %s, got %s", c.name, cmd, bad, r)
			}
		}
		if _, err := os.Stat(a.path("cert.pem")); err == nil {
			t.Errorf("state dir %s: a cert was issued", c.name)
		}
	}
}

// Item 8b: journal records planted in the state dir. web's and ghost's
// (a cert not in the config) name a file the config does not write, in
// a sticky, world-writable spool dir where the service user left a file
// of theirs; api's names api's own cert file but a unit api does not
// have. Recovery must refuse all three, move them aside and touch
// nothing.
func attackJournalRecord(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase+`units = ["web.service"]

[certs.api]
issuer = "ca"
dns_names = ["api.example.com"]
key_type = "ec256"
cert_file = "{{out}}/api-cert.pem"
key_file = "{{out}}/api-key.pem"
units = ["api.service"]
`)
	a.issueOnce(t)
	spool := a.rootDir(t, "spool")
	if err := os.Chmod(spool, 0o1777); err != nil {
		t.Fatal(err)
	}
	decoy := a.plantDecoy(t, filepath.Join(spool, "decoy"))
	apiCert := fileHash(a.path("api-cert.pem"))
	journal := filepath.Join(a.state, "journal")
	certs := []string{"web", "ghost", "api"}
	for i, cert := range certs {
		dir, target := spool, filepath.Base(decoy)
		if cert == "api" {
			dir, target = a.out, "api-cert.pem"
		}
		// A well-formed temp name (16 hex digits), so that only the
		// record's targets and units can make recovery refuse it.
		tmp := "." + target + ".certagent-" + strings.Repeat(string(rune('a'+i)), 16) + ".tmp"
		as(t, svc, "printf 'attacker bytes\\n' > "+filepath.Join(dir, tmp))
		rec := map[string]any{
			"version": 1, "cert": cert, "state": "commit",
			"renames": []map[string]string{{"dir": dir, "temp": tmp, "target": target}},
			"intents": []map[string]string{{"unit": "sshd.service", "action": "restart", "cert": cert}},
		}
		b, _ := json.Marshal(rec)
		writeFile(t, filepath.Join(journal, "commit-"+cert+".json"), b)
	}
	r := certagent(t, "renew", "--config", a.config)
	noPanic(t, "renew", r.stderr)
	t.Logf("renew after planting the records: %s", r)
	a.decoyIntact(t)
	if fileHash(a.path("api-cert.pem")) != apiCert {
		t.Errorf("the record with a foreign unit replaced api-cert.pem")
	}
	for _, cert := range certs {
		name := "commit-" + cert + ".json"
		if _, err := os.Stat(filepath.Join(journal, name)); err == nil {
			t.Errorf("planted %s is still in the journal", name)
		}
		if aside := findPrefix(a.state, name); len(aside) == 0 {
			t.Errorf("planted %s was deleted, not moved aside:\n%s", name, r.stderr)
		}
	}
	for _, in := range pendingIntents(t, a.state) {
		if in.Unit == "sshd.service" {
			t.Errorf("the planted record of %s queued %s %s", in.Cert, in.Action, in.Unit)
		}
	}
	if err := checkSet(a.webSet()); err != nil {
		t.Error(err)
	}
}

// findPrefix lists the files under dir whose name starts with prefix.
func findPrefix(dir, prefix string) []string {
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasPrefix(info.Name(), prefix) {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// held: a drop-in the operator gave to the service user (who then makes
// it write the decoy) is refused by check and by renew.
func attackHeldDropin(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, attackBase)
	dropin := filepath.Join(a.rootDir(t, "conf.d"), "50-web.toml")
	writeFile(t, dropin, nil)
	if err := os.Chown(dropin, svc.uid, svc.gid); err != nil {
		t.Fatal(err)
	}
	as(t, svc, a.expand(`printf '[certs.evil]\nissuer = "ca"\ndns_names = ["evil.example.com"]\ncert_file = "{{out}}/evil.pem"\nkey_file = "{{decoy}}"\n' > `+dropin))
	for _, cmd := range []string{"check", "renew"} {
		wantExit(t, cmd+" with a drop-in owned by "+svc.name, certagent(t, cmd, "--config", a.config), 2, dropin, "not root")
	}
}

// held: a key password file in the service user's directory.
func attackHeldCredential(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	pass := a.path("key.pass")
	as(t, svc, "printf 'Attack-key-pass-1!\\n' > "+pass+" && chmod 0600 "+pass)
	a.write(t, attackBase+`key_password_file = "`+pass+`"
`)
	wantExit(t, "check with a key password file owned by "+svc.name, certagent(t, "check", "--config", a.config), 2, `key "key_password_file"`, a.out, "not root")
}

// held: the metrics endpoint does not listen beyond loopback unless the
// operator says so.
func attackHeldMetricsRemote(t *testing.T, svc, other account) {
	a := newAttackEnv(t, svc, other)
	a.write(t, strings.Replace(attackBase, "[agent]\n", "[agent]\nmetrics_listen = \"0.0.0.0:"+freePort(t)+"\"\n", 1))
	wantExit(t, "check with metrics on 0.0.0.0", certagent(t, "check", "--config", a.config), 2, "is not a loopback address")
}

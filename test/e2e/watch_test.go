package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// selfSigned writes a fresh self-signed pair (a "foreign" cert from
// another CA) to certPath and keyPath, atomically each, and returns it.
func selfSigned(t *testing.T, certPath, keyPath, cn string) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	if keyPath != "" {
		replaceFile(t, keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	}
	if certPath != "" {
		replaceFile(t, certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	}
	c, _ := x509.ParseCertificate(der)
	return c
}

// replaceFile writes data next to path and renames it over path, as
// well-behaved tools (certbot, config management) do.
func replaceFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const managedAndWatched = `
[agent]
state_dir = "{{state}}"
check_interval = "12h"

[issuers.ca]
type = "local"

[certs.web]
issuer = "ca"
dns_names = ["web.example.com"]
cert_file = "{{out}}/web/cert.pem"
key_file = "{{out}}/web/key.pem"
ca_file = "{{out}}/web/ca.pem"

[watch.legacy]
cert_file = "{{out}}/legacy/live/fullchain.pem"
key_file = "{{out}}/legacy/live/privkey.pem"
exec = ["/bin/sh", "-c", "echo \"$CERTAGENT_CERT_NAME\" >> {{out}}/actions.log"]
`

func (e *env) actions(t *testing.T) int {
	b, err := os.ReadFile(e.Path("actions.log"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "legacy\n")
}

// TestWatchRepairsManagedFiles: deletion, loosened mode and a foreign
// cert are each noticed through inotify and repaired within 2 s.
func TestWatchRepairsManagedFiles(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, managedAndWatched)
	selfSigned(t, e.Path("legacy/live/fullchain.pem"), e.Path("legacy/live/privkey.pem"), "legacy.example.com")
	d := startDaemon(t, e)
	d.Await(1, 20*time.Second, "event=issued")
	key, cert := e.Path("web/key.pem"), e.Path("web/cert.pem")

	// Deleted key → re-issued, matching, within 2 s.
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, 2*time.Second, "the deleted key to be re-issued", func() bool { return pairMatches(cert, key) == nil })
	d.Await(1, time.Second, "modified outside certagent")

	// Key made 0644 → back to 0600 within 2 s, same cert (no re-issue).
	serial := certSerial(t, cert)
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	testbin.Eventually(t, 2*time.Second, "the key mode to be restored", func() bool { return mode(t, key) == 0o600 })
	d.Await(1, time.Second, "event=permissions_restored")
	if certSerial(t, cert) != serial {
		t.Error("a loosened mode caused a re-issue")
	}

	// A foreign cert (and key) planted → replaced by one from our CA.
	foreign := selfSigned(t, cert, key, "web.example.com")
	testbin.Eventually(t, 3*time.Second, "the foreign cert to be replaced", func() bool {
		s := certSerial(t, cert)
		return s != foreign.SerialNumber.String() && s != "" && pairMatches(cert, key) == nil
	})
	testbin.Run(t, testbin.NeedTool(t, "openssl"), "verify", "-CAfile", e.Path("web/ca.pem"), cert)
	if n := d.Count("event=issued") + d.Count("event=renewed"); n > 3 {
		t.Errorf("%d issuances for three repairs: own writes re-trigger the watcher", n)
	}
	if e.actions(t) != 0 {
		t.Error("managed repairs ran the watch-only hook")
	}
}

func certSerial(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return ""
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return ""
	}
	return c.SerialNumber.String()
}

// TestWatchOnlyPairActsOncePerValidChange covers the watch-only rules: a
// two-step replace is one action, a mismatched pair is none (and an
// ERROR), and a certbot-style symlink swap is one action.
func TestWatchOnlyPairActsOncePerValidChange(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, managedAndWatched)
	live := e.Path("legacy/live")
	selfSigned(t, filepath.Join(live, "fullchain.pem"), filepath.Join(live, "privkey.pem"), "legacy.example.com")
	d := startDaemon(t, e)
	d.Await(1, 20*time.Second, "event=issued")
	time.Sleep(500 * time.Millisecond)
	if n := e.actions(t); n != 0 {
		t.Fatalf("%d actions at start-up; the initial pair is not a change", n)
	}

	// Two steps: key, then 300 ms later the cert.
	key, cert := filepath.Join(live, "privkey.pem"), filepath.Join(live, "fullchain.pem")
	tmpDir := t.TempDir()
	selfSigned(t, filepath.Join(tmpDir, "c.pem"), filepath.Join(tmpDir, "k.pem"), "legacy.example.com")
	kb, _ := os.ReadFile(filepath.Join(tmpDir, "k.pem"))
	cb, _ := os.ReadFile(filepath.Join(tmpDir, "c.pem"))
	replaceFile(t, key, kb, 0o600)
	time.Sleep(300 * time.Millisecond)
	replaceFile(t, cert, cb, 0o644)
	testbin.Eventually(t, 3*time.Second, "one action for the two-step replace", func() bool { return e.actions(t) == 1 })
	time.Sleep(1500 * time.Millisecond)
	if n := e.actions(t); n != 1 {
		t.Fatalf("two-step replace: %d actions, want exactly 1", n)
	}
	if d.Count("event=watch_invalid") != 0 {
		t.Error("the half-way state of a two-step replace was logged as an error")
	}

	// A mismatched pair: no action, an ERROR.
	selfSigned(t, "", key, "other")
	d.Await(1, 3*time.Second, "event=watch_invalid")
	time.Sleep(500 * time.Millisecond)
	if n := e.actions(t); n != 1 {
		t.Fatalf("mismatched pair caused an action (%d total)", n)
	}
	if !strings.Contains(d.Text(), "[ERROR]") {
		t.Error("mismatched pair not logged at ERROR")
	}

	// certbot style: live/ holds symlinks into archive/N; swap them.
	archive := e.Path("legacy/archive")
	for _, n := range []string{"1", "2"} {
		selfSigned(t, filepath.Join(archive, n, "fullchain.pem"), filepath.Join(archive, n, "privkey.pem"), "legacy.example.com")
	}
	swapLinks := func(n string) {
		for _, f := range []string{"fullchain.pem", "privkey.pem"} {
			tmp := filepath.Join(live, f+".lnk")
			if err := os.Symlink(filepath.Join(archive, n, f), tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, filepath.Join(live, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	swapLinks("1")
	testbin.Eventually(t, 3*time.Second, "an action for the repaired pair", func() bool { return e.actions(t) == 2 })
	swapLinks("2")
	testbin.Eventually(t, 3*time.Second, "an action for the symlink swap", func() bool { return e.actions(t) == 3 })
	time.Sleep(1500 * time.Millisecond)
	if n := e.actions(t); n != 3 {
		t.Fatalf("after the symlink swaps: %d actions, want 3", n)
	}
}

// TestStatusListsWatchEntries: the one-shot `certagent status` (no
// daemon) lists watch-only pairs as watch:NAME, sorted in among the
// managed certs, with issuer "-", and shows a mismatched pair as invalid
// and a deleted one as missing, in the table and in --json.
func TestStatusListsWatchEntries(t *testing.T) {
	e := newEnv(t)
	e.WriteConfig(t, managedAndWatched)
	live := e.Path("legacy/live")
	leaf := selfSigned(t, filepath.Join(live, "fullchain.pem"), filepath.Join(live, "privkey.pem"), "legacy.example.com")
	if r := certagent(t, "renew", "--config", e.Config); r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	type row struct {
		Name, Issuer, Serial, State string
		NotAfter                    *time.Time `json:"not_after"`
		Problems                    []string
	}
	status := func() []row {
		t.Helper()
		r := certagent(t, "status", "--json", "--config", e.Config)
		var rows []row
		if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || r.code != 0 {
			t.Fatalf("status --json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
		}
		return rows
	}
	rows := status()
	if len(rows) != 2 || rows[0].Name != "watch:legacy" || rows[1].Name != "web" {
		t.Fatalf("status --json rows %+v, want watch:legacy then web (sorted by name)", rows)
	}
	w := rows[0]
	if w.Issuer != "-" || w.State != "ok" || w.Serial != fmt.Sprintf("%x", leaf.SerialNumber) || w.NotAfter == nil {
		t.Errorf("watch row %+v, want issuer -, state ok, serial %x and not_after", w, leaf.SerialNumber)
	}

	selfSigned(t, "", filepath.Join(live, "privkey.pem"), "other")
	if w := status()[0]; w.State != "invalid" || len(w.Problems) == 0 || !strings.Contains(w.Problems[0], "match") {
		t.Errorf("mismatched watch pair: %+v, want state invalid naming the mismatch", w)
	}
	table := certagent(t, "status", "--config", e.Config)
	if !regexp.MustCompile(`(?m)^watch:legacy\s+-\s.*\binvalid\b`).MatchString(table.stdout) {
		t.Errorf("status table lacks the invalid watch:legacy row:\n%s", table.stdout)
	}

	if err := os.Remove(filepath.Join(live, "fullchain.pem")); err != nil {
		t.Fatal(err)
	}
	if w := status()[0]; w.State != "missing" || w.NotAfter != nil {
		t.Errorf("deleted watch cert: %+v, want state missing and no not_after (omitted, not a zero time)", w)
	}
}

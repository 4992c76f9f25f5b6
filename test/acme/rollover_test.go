package acme_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/internal/pebbletest"
	"github.com/certagent/certagent/internal/testbin"
)

// TestAccountRolloverCommand runs `certagent account rollover` against
// Pebble, then kills it (SIGKILL, as a power cut) once after it staged
// the new key and once after Pebble accepted it: each time the next
// `certagent renew --force` orders with the key Pebble knows, leaves no
// staged key, and registers no new account.
func TestAccountRolloverCommand(t *testing.T) {
	t.Parallel()
	bins, err := testbin.Build(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bins.Remove)
	srv := pebbletest.Start(t, pebbletest.Options{})
	e := newEnv(t)
	e.write(t, srv, issuerOpts{}, certOpts{name: "web", dnsNames: []string{"web.example.com"}})
	mustRun(t, "renew", "--config", e.Config)
	keyFile := filepath.Join(e.State, "acme", "pebble", "account.key")
	staged := keyFile + ".new"

	before := readFiles(t, filepath.Dir(keyFile), "account.key")["account.key"]
	r := mustRun(t, "account", "rollover", "--config", e.Config, "pebble")
	if !strings.Contains(r.stdout, "now uses a new key") {
		t.Errorf("rollover output: %q", r.stdout)
	}
	after := readFiles(t, filepath.Dir(keyFile), "account.key")["account.key"]
	if bytes.Equal(before, after) {
		t.Fatal("account.key unchanged by the rollover")
	}
	mustRun(t, "renew", "--force", "--config", e.Config)

	for _, point := range []string{"acme-keychange-staged", "acme-keychange-accepted"} {
		old := readFiles(t, filepath.Dir(keyFile), "account.key")["account.key"]
		cmd := exec.Command(bins.Failpoint, "account", "rollover", "--config", e.Config, "pebble")
		cmd.Env = append(os.Environ(), "CERTAGENT_FAILPOINT="+point)
		var ee *exec.ExitError
		if out, err := cmd.CombinedOutput(); !errors.As(err, &ee) || ee.ExitCode() != -1 {
			t.Fatalf("%s: rollover was not killed (err %v):\n%s", point, err, out)
		}
		newKey := readFiles(t, filepath.Dir(keyFile), "account.key.new")["account.key.new"]
		mustRun(t, "renew", "--force", "--config", e.Config)
		got := readFiles(t, filepath.Dir(keyFile), "account.key")["account.key"]
		want, what := old, "the old key"
		if point == "acme-keychange-accepted" {
			want, what = newKey, "the key Pebble accepted"
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: account.key is not %s", point, what)
		}
		if _, err := os.Stat(staged); !os.IsNotExist(err) {
			t.Fatalf("%s: %s left behind (%v)", point, staged, err)
		}
	}
	if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Fatalf("Pebble registered %d accounts, want 1: the account survived every rollover and crash", n)
	}
	summary("account rollover via binary: done, killed after staging and after acceptance, 1 account")
}

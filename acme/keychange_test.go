package acme

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/certagent/certagent/internal/pebbletest"
)

// TestAccountKeyRollover rolls the key over against Pebble: the account
// keeps its URL, Pebble refuses the old key afterwards, and a new
// process orders with the new key without registering again.
func TestAccountKeyRollover(t *testing.T) {
	t.Parallel()
	srv := pebbletest.Start(t, pebbletest.Options{})
	state := filepath.Join(t.TempDir(), "acme", "le")
	iss := newIssuer(t, issuerConfig(srv), state)
	mustIssue(t, srv, iss, request(t, "before.example.com"))
	// daemon stands for a running daemon that cached the old key.
	daemon := newIssuer(t, issuerConfig(srv), state)
	mustIssue(t, srv, daemon, request(t, "daemon-before.example.com"))
	oldPEM := readFile(t, filepath.Join(state, accountKeyFile))
	oldAcct, err := loadAccount(state, srv.DirectoryURL)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	uri, err := iss.RolloverAccountKey(ctx)
	if err != nil {
		t.Fatalf("RolloverAccountKey: %v\n%s", err, tail(srv.Log(), 20))
	}
	if uri != oldAcct.Registration.URI {
		t.Fatalf("account URL changed: %s, want %s", uri, oldAcct.Registration.URI)
	}
	if bytes.Equal(readFile(t, filepath.Join(state, accountKeyFile)), oldPEM) {
		t.Fatal("account.key unchanged after rollover")
	}
	assertMode(t, filepath.Join(state, accountKeyFile), 0o600)
	assertNoFile(t, filepath.Join(state, stagedKeyFile))

	hc, _ := iss.clients.forContext(ctx)
	if ok, err := iss.checkAccount(hc, oldAcct); err == nil && ok {
		t.Fatal("the CA still accepts the old account key")
	}
	mustIssue(t, srv, iss, request(t, "same-process.example.com"))
	mustIssue(t, srv, daemon, request(t, "daemon-after.example.com"))
	mustIssue(t, srv, newIssuer(t, issuerConfig(srv), state), request(t, "after.example.com"))
	if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
		t.Fatalf("Pebble registered %d accounts, want 1 (the rolled-over account kept)", n)
	}
}

// TestAccountKeyRolloverInterrupted leaves a staged key as a crash would,
// once after the CA accepted it and once before it heard of it: the next
// process must keep the account (no new registration) and order with
// whichever key the CA knows.
func TestAccountKeyRolloverInterrupted(t *testing.T) {
	t.Parallel()
	for _, accepted := range []bool{true, false} {
		srv := pebbletest.Start(t, pebbletest.Options{})
		state := filepath.Join(t.TempDir(), "acme", "le")
		iss := newIssuer(t, issuerConfig(srv), state)
		mustIssue(t, srv, iss, request(t, "before.example.com"))
		oldPEM := readFile(t, filepath.Join(state, accountKeyFile))
		stagedPEM := crashMidRollover(t, iss, accepted)

		mustIssue(t, srv, newIssuer(t, issuerConfig(srv), state), request(t, "after.example.com"))
		want := oldPEM
		if accepted {
			want = stagedPEM
		}
		if !bytes.Equal(readFile(t, filepath.Join(state, accountKeyFile)), want) {
			t.Fatalf("accepted=%v: account.key is not the key the CA knows", accepted)
		}
		assertNoFile(t, filepath.Join(state, stagedKeyFile))
		if n := srv.CountLog(pebbletest.AccountCreatedLog); n != 1 {
			t.Fatalf("accepted=%v: Pebble registered %d accounts, want 1", accepted, n)
		}
		srv.Stop()
	}
}

// crashMidRollover stages a new key and, when accepted, has the CA take
// it, then stops as a crash before the local write would.
func crashMidRollover(t *testing.T, iss *Issuer, accepted bool) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemKey, err := encodeAccountKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(filepath.Join(iss.stateDir, stagedKeyFile), pemKey); err != nil {
		t.Fatal(err)
	}
	if accepted {
		hc, _ := iss.clients.forContext(context.Background())
		acct, err := iss.account(hc)
		if err != nil {
			t.Fatal(err)
		}
		if err := iss.postKeyChange(hc, acct, key); err != nil {
			t.Fatalf("keyChange: %v", err)
		}
	}
	return pemKey
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("%s exists (err %v), want it gone", path, err)
	}
}

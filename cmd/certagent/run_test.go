package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestCLIUsageAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.toml")
	bad := filepath.Join(dir, "bad.toml")
	os.WriteFile(good, []byte("[agent]\nstate_dir = \""+dir+"/state\"\n"), 0o600)
	os.WriteFile(bad, []byte("[agent]\nstate_dir = \""+dir+"/state\"\ncheck_interval = \"-1d\"\n"), 0o600)
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"no args", nil, 2, "", "usage: certagent COMMAND"},
		{"help", []string{"--help"}, 0, "usage: certagent COMMAND", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "certagent dev", ""},
		{"command help on stdout", []string{"status", "--help"}, 0, "usage: certagent status", ""},
		{"bad flag", []string{"check", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"check ok", []string{"check", "--config", good}, 0, "configuration ok: 0 certs", ""},
		{"check bad", []string{"check", "--config", bad}, 2, "", `bad.toml:3: agent: key "check_interval"`},
		{"missing config", []string{"check", "--config", filepath.Join(dir, "nope.toml")}, 2, "", "does not exist"},
		{"renew unknown cert", []string{"renew", "--config", good, "web"}, 2, "", `no cert named "web"`},
		{"status empty", []string{"status", "--config", good}, 0, "NAME", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out, tc.inStdout) || !strings.Contains(errs, tc.inStderr) {
				t.Fatalf("certagent %v: exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout ∋ %q, stderr ∋ %q",
					tc.args, code, tc.code, out, errs, tc.inStdout, tc.inStderr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Error("check/status/renew-with-a-bad-name created the state dir")
	}
}

// TestUntrustedStateDirRefused: run, renew and check refuse a state_dir
// whose parent others can write, as a config error (exit 2) naming the
// directory and its mode, and create nothing in it.
func TestUntrustedStateDirRefused(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(conf, []byte("[agent]\nstate_dir = \""+open+"/state\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	want := `key "state_dir": directory ` + open + ` is writable by group or others (mode 0777)`
	for _, cmd := range []string{"check", "renew", "run"} {
		code, _, errs := runCLI(t, cmd, "--config", conf)
		if code != 2 || !strings.Contains(errs, want) {
			t.Errorf("certagent %s: exit %d, want 2 with %q; stderr:\n%s", cmd, code, want, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(open, "state")); !os.IsNotExist(err) {
		t.Error("the refused state dir was created")
	}
}

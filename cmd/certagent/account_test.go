package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAccountUsage: `certagent account` wants `rollover ISSUER` naming an
// ACME issuer; anything else is a usage error that touches no state.
func TestAccountUsage(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "c.toml")
	data := "[agent]\nstate_dir = \"" + dir + "/state\"\n[issuers.internal]\ntype = \"local\"\n"
	if err := os.WriteFile(conf, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"account", "--config", conf}, "usage: certagent account"},
		{[]string{"account", "--config", conf, "rotate", "internal"}, "usage: certagent account"},
		{[]string{"account", "--config", conf, "rollover", "internal"}, `no ACME issuer named "internal"`},
		{[]string{"account", "rollover", "--config", conf, "le"}, `no ACME issuer named "le"`},
	} {
		code, _, errs := runCLI(t, tc.args...)
		if code != exitUsage || !strings.Contains(errs, tc.want) {
			t.Errorf("certagent %v: exit %d, want 2 with %q; stderr:\n%s", tc.args, code, tc.want, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Error("a refused account command created the state dir")
	}
}

package config

import (
	"strings"
	"testing"
)

// TestDefaultControlSocket: the default state_dir keeps the packaged
// socket; any other state_dir gets its own, so two daemons on one host
// (separate configs, or parallel tests) never answer each other; an
// explicit control_socket wins.
func TestDefaultControlSocket(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"", DefaultControlSocket},
		{"[agent]\nstate_dir = \"/var/lib/certagent\"\n", DefaultControlSocket},
		{"[agent]\nstate_dir = \"/srv/ca/state\"\n", "/srv/ca/state/control.sock"},
		{"[agent]\nstate_dir = \"/srv/" + strings.Repeat("x", 120) + "\"\n", DefaultControlSocket},
		{"[agent]\nstate_dir = \"/srv/ca/state\"\ncontrol_socket = \"/run/x.sock\"\n", "/run/x.sock"},
	} {
		cfg, err := Parse("c.toml", []byte(c.toml), Options{SkipFileChecks: true})
		if err != nil {
			t.Fatalf("%q: %v", c.toml, err)
		}
		if got := cfg.Agent.ControlSocket; got != c.want {
			t.Errorf("%q: control_socket %q, want %q", c.toml, got, c.want)
		}
	}
}

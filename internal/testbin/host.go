package testbin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Host is one test's temp host layout: Dir holds the config file, the
// state dir and the output dir. Nothing but Dir exists until written.
type Host struct {
	Dir    string
	Config string // Dir/certagent.toml
	State  string // Dir/state, the state_dir
	Out    string // Dir/tls, where the certs go
}

// NewHost lays out a Host in a fresh t.TempDir().
func NewHost(t testing.TB) *Host {
	t.Helper()
	d := t.TempDir()
	return &Host{Dir: d, Config: filepath.Join(d, "certagent.toml"), State: filepath.Join(d, "state"), Out: filepath.Join(d, "tls")}
}

// Expand replaces {{state}}, {{out}} and {{dir}} in a config template.
func (h *Host) Expand(tmpl string) string {
	return strings.NewReplacer("{{state}}", h.State, "{{out}}", h.Out, "{{dir}}", h.Dir).Replace(tmpl)
}

// WriteConfig writes the expanded template to Config, mode 0600.
func (h *Host) WriteConfig(t testing.TB, tmpl string) {
	t.Helper()
	if err := os.WriteFile(h.Config, []byte(h.Expand(tmpl)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Path is a file under Out.
func (h *Host) Path(parts ...string) string {
	return filepath.Join(append([]string{h.Out}, parts...)...)
}

// Package recipes proves, per ML system of docs/recipes/, that a real
// client of that system's TLS stack accepts what the real certagent
// binary wrote: Go crypto/tls (Determined, OpenFL), Python gRPC
// (Flower), openssl and dask distributed (Vega), and the MindIO tls_info
// string read back field by field. A missing peer skips the test, or
// fails it when CI=true.
package recipes

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/internal/testbin"
)

// bin is the certagent binary under test.
var bin string

// python is Debian's interpreter; test/setup.d/50-recipes.sh installs the
// modules for it (a pyenv python3 on PATH would not have them).
const python = "/usr/bin/python3"

func TestMain(m *testing.M) {
	b := testbin.MustBuild(false)
	bin = b.Release
	code := m.Run()
	b.Remove()
	os.Exit(code)
}

// needPython checks that /usr/bin/python3 can import every module.
func needPython(t *testing.T, modules ...string) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		testbin.Missing(t, "%s not installed", python)
	}
	for _, m := range modules {
		if out, err := exec.Command(python, "-c", "import "+m).CombinedOutput(); err != nil {
			testbin.Missing(t, "python module %s not importable by %s: %s", m, python, strings.TrimSpace(string(out)))
		}
	}
}

// host is a temp layout: {{dir}} in configs is replaced by its root, and
// credentials live in dir/creds ($CREDENTIALS_DIRECTORY).
type host struct {
	dir, config, creds string
}

func newHost(t *testing.T) *host {
	t.Helper()
	d := t.TempDir()
	h := &host{dir: d, config: filepath.Join(d, "certagent.toml"), creds: filepath.Join(d, "creds")}
	if err := os.MkdirAll(h.creds, 0o700); err != nil {
		t.Fatal(err)
	}
	return h
}

// write renders a config with {{dir}} replaced and writes it 0600.
func (h *host) write(t *testing.T, text string) {
	t.Helper()
	writeFile(t, h.config, strings.ReplaceAll(text, "{{dir}}", h.dir), 0o600)
}

// credential stores a systemd-style credential (with a trailing newline,
// as `systemd-creds` leaves it).
func (h *host) credential(t *testing.T, name, value string) {
	t.Helper()
	writeFile(t, filepath.Join(h.creds, name), value+"\n", 0o600)
}

func (h *host) path(rel string) string { return filepath.Join(h.dir, rel) }

// result is one finished certagent run.
type result struct {
	code           int
	stdout, stderr string
}

// certagent runs the binary with $CREDENTIALS_DIRECTORY set as systemd
// would for LoadCredential=.
func (h *host) certagent(t *testing.T, args ...string) result {
	t.Helper()
	args = append(args, "--config", h.config)
	r := testbin.Exec(t, 2*time.Minute, []string{"CREDENTIALS_DIRECTORY=" + h.creds}, bin, args...)
	return result{r.Code, r.Stdout, r.Stderr}
}

// renew runs `certagent check` then `certagent renew` and fails t on
// any error.
func (h *host) renew(t *testing.T) result {
	t.Helper()
	if r := h.certagent(t, "check"); r.code != 0 {
		t.Fatalf("check: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r := h.certagent(t, "renew")
	if r.code != 0 {
		t.Fatalf("renew: exit %d\n%s", r.code, r.stderr)
	}
	return r
}

func writeFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

// repoFile is a path relative to the repository root.
func repoFile(rel string) string { return filepath.Join("..", "..", rel) }

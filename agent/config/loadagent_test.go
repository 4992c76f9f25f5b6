package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// LoadAgent gives the [agent] table Load gives, later files winning per
// key, without judging the certs; what Load would reject in the [agent]
// table, or in a file that may set it, it rejects too.
func TestLoadAgent(t *testing.T) {
	badCert := "[certs.api]\nissuer = \"nosuch\"\nkey_type = \"rsa1\"\n"
	main := strings.Replace(mainTOML, "[agent]\n", "[agent]\nstate_dir = \"/var/lib/ca-test\"\n", 1)
	dir := writeTree(t, map[string]string{
		"certagent.toml":       main,
		"conf.d/10-api.toml":   badCert,
		"conf.d/20-agent.toml": "agent.control_socket = \"/run/ca-test.sock\"\n",
	})
	path := filepath.Join(dir, "certagent.toml")
	if _, err := Load(path, testOpts); err == nil {
		t.Fatal("Load accepted the bad cert")
	}
	a, err := LoadAgent(path, testOpts)
	if err != nil {
		t.Fatalf("LoadAgent: %v", err)
	}
	if a.StateDir != "/var/lib/ca-test" || a.ControlSocket != "/run/ca-test.sock" || a.LogLevel != "debug" {
		t.Errorf("agent = %+v", a)
	}

	// A drop-in that names the agent table is decoded strictly.
	writeFile(t, filepath.Join(dir, "conf.d/20-agent.toml"), "[agent]\ncontrol_sockett = \"/run/x.sock\"\n")
	if _, err := LoadAgent(path, testOpts); err == nil || !strings.Contains(err.Error(), "control_sockett") {
		t.Errorf("unknown [agent] key: %v", err)
	}
	// The [agent] table is validated.
	writeFile(t, filepath.Join(dir, "conf.d/20-agent.toml"), "[agent]\ncontrol_socket = \"relative.sock\"\n")
	if _, err := LoadAgent(path, testOpts); err == nil {
		t.Error("relative control_socket accepted")
	}
	// An escaped key may spell agent without the word.
	writeFile(t, filepath.Join(dir, "conf.d/20-agent.toml"), "[\"\\u0061gent\"]\nlog_level = \"loud\"\n")
	if _, err := LoadAgent(path, testOpts); err == nil {
		t.Error("bad log_level under an escaped [agent] accepted")
	}
}

// Every file read gets Load's trust checks, decoded or not.
func TestLoadAgentFileChecks(t *testing.T) {
	dir := writeTree(t, map[string]string{"certagent.toml": mainTOML, "conf.d/10.toml": "[certs.x]\n"})
	opts := testOpts
	opts.SkipFileChecks = false
	path := filepath.Join(dir, "certagent.toml")
	if _, err := LoadAgent(path, opts); err != nil {
		t.Fatalf("0644 files refused: %v", err)
	}
	if err := os.Chmod(filepath.Join(dir, "conf.d/10.toml"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadAgent(path, opts); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("group-writable drop-in: %v", err)
	}
	if _, err := LoadAgent(filepath.Join(dir, "missing.toml"), opts); err == nil {
		t.Error("missing config file accepted")
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

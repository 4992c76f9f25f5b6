package config

import (
	"os"
	"strings"
	"testing"
)

func TestKeyLines(t *testing.T) {
	src := strings.Join([]string{
		`# comment with a quote ' and "`, // 1
		`[agent]`,                        // 2
		`log_level = "info" # trailing`,  // 3
		`state_dir = """`,                // 4
		`a = 1`,                          // 5 (inside a string)
		`"""`,                            // 6
		`allowed_key_types = [`,          // 7
		`  "ec256", # [not a table]`,     // 8
		`]`,                              // 9
		`[certs."my.cert"]`,              // 10
		`dns_names = ['x']`,              // 11
		`  [ watch . w ]`,                // 12
		`unit.s = 'lit''`,                // 13
		"\ufeffx = 1",                    // 14
	}, "\n")
	got := keyLines([]byte(src))
	want := map[string]int{
		"agent": 2, "agent.log_level": 3, "agent.state_dir": 4, "agent.allowed_key_types": 7,
		`certs."my.cert"`: 10, `certs."my.cert".dns_names`: 11, "watch.w": 12, "watch.w.unit.s": 13, "certs": 10,
	}
	for k, l := range want {
		if got[k] != l {
			t.Errorf("line of %s = %d, want %d", k, got[k], l)
		}
	}
	if _, ok := got["agent.a"]; ok {
		t.Error("a key inside a multi-line string was recorded")
	}
}

// TestKeyLinesExample: in the full example every recorded key's line
// really contains that key.
func TestKeyLinesExample(t *testing.T) {
	data, err := os.ReadFile("../../examples/full.toml")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	kl := keyLines(data)
	if len(kl) < 50 {
		t.Fatalf("only %d keys found", len(kl))
	}
	for k, l := range kl {
		parts := strings.Split(k, ".")
		last := parts[len(parts)-1]
		if !strings.Contains(lines[l-1], last) {
			t.Errorf("key %s at line %d: %q", k, l, lines[l-1])
		}
	}
}

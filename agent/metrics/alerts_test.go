package metrics

import (
	"os"
	"os/exec"
	"testing"
)

// promtool returns the promtool binary, skipping outside CI when it is
// absent (test/setup.d/40-prometheus.sh installs it) and failing in CI.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("promtool not found on PATH with CI=true; test/setup.d/40-prometheus.sh should have installed Debian's prometheus package")
	}
	t.Skip("promtool not found; install Debian's prometheus package (test/setup.d/40-prometheus.sh) to check examples/alerts.yml")
	return ""
}

// TestAlertRulesAreValid runs `promtool check rules` on the sample rules.
func TestAlertRulesAreValid(t *testing.T) {
	out, err := exec.Command(promtool(t), "check", "rules", "../../examples/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules examples/alerts.yml: %v\n%s", err, out)
	}
}

// TestAlertRulesFire runs examples/alerts_test.yml, which proves on sample
// series that each alert fires when it should and stays quiet otherwise.
func TestAlertRulesFire(t *testing.T) {
	out, err := exec.Command(promtool(t), "test", "rules", "../../examples/alerts_test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules examples/alerts_test.yml: %v\n%s", err, out)
	}
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestAlertRules checks the PromQL alerts of README.md ("Metrics and health") with Prometheus's
// own promtool: they parse as a rules file, and promtool's unit tests (testdata/alerts_test.yml)
// fire each alert on series that should trigger it and not on the others. The metric and label
// names they use are those TestMetricsEndpoint reads from /metrics.
func TestAlertRules(t *testing.T) {
	promtool := lookTool(t, "promtool", "Debian package prometheus")
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "`TestAlertRules`, against series named as `/metrics` exports them):\n\n```yaml\n")
	block, _, ok2 := strings.Cut(after, "```\n")
	if !ok || !ok2 || !strings.Contains(block, "- alert:") {
		t.Fatal("README.md has no yaml block after the introduction of the alerts")
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: privates3\n    rules:\n")
	for line := range strings.Lines(block) {
		if strings.TrimSpace(line) == "" {
			rules.WriteString("\n")
		} else {
			rules.WriteString("      " + line)
		}
	}
	dir := t.TempDir()
	tests, err := os.ReadFile("testdata/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"rules.yml": rules.String(), "alerts_test.yml": string(tests)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.CommandContext(t.Context(), promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s\nrules.yml:\n%s", strings.Join(args, " "), err, out, rules.String())
		}
	}
	if n := strings.Count(block, "- alert:"); n != 3 {
		t.Errorf("%d alerts in README.md, want 3", n)
	}
}

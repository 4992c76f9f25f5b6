package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// packagedUnitDirs lays out the packaged certagent.service (and the given
// drop-ins) as systemd's unit directories under a temp dir.
func packagedUnitDirs(t *testing.T, dropins map[string]string) []string {
	t.Helper()
	root := t.TempDir()
	lib, etc := filepath.Join(root, "usr/lib/systemd/system"), filepath.Join(root, "etc/systemd/system")
	unit, err := os.ReadFile("../../packaging/certagent.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{lib, filepath.Join(etc, unitName+".d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(lib, unitName), unit, 0o644)
	for name, text := range dropins {
		os.WriteFile(filepath.Join(etc, unitName+".d", name), []byte(text), 0o644)
	}
	return []string{lib, etc}
}

const vegaLike = `[agent]
state_dir = "/var/lib/certagent"
[issuers.ca]
type = "local"
[certs.vega]
issuer = "ca"
dns_names = ["v.example.com"]
cert_file = "/root/.vega/server.crt"
key_file = "/root/.vega/server.key"
[certs.web]
issuer = "ca"
dns_names = ["w.example.com"]
cert_file = "/etc/ssl/certagent/web/cert.pem"
key_file = "/etc/ssl/certagent/web/key.pem"
[certs.det]
issuer = "ca"
dns_names = ["d.example.com"]
cert_file = "/etc/determined/tls/cert.pem"
key_file = "/etc/determined/tls/key.pem"
`

// TestCheckWarnsOutsideTheSandbox: against the packaged unit, check warns
// about /root/.vega (ProtectHome=yes) and /etc/determined/tls
// (ProtectSystem=strict), not about /etc/ssl/certagent or the state dir,
// prints the drop-in, and still exits 0; with that drop-in installed the
// warnings are gone.
func TestCheckWarnsOutsideTheSandbox(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.toml")
	os.WriteFile(cfg, []byte(vegaLike), 0o600)
	dirs := packagedUnitDirs(t, nil)
	old := loadSandbox
	t.Cleanup(func() { loadSandbox = old })
	loadSandbox = func() *sandbox { return sandboxFromFiles(dirs) }

	code, out, errs := runCLI(t, "check", "--config", cfg)
	if code != exitOK {
		t.Fatalf("check: exit %d, want 0 (warnings only)\n%s%s", code, out, errs)
	}
	for _, want := range []string{
		"warning: certagent.service may not write in /root/.vega (ProtectHome=yes",
		"warning: certagent.service may not write in /etc/determined/tls (ProtectSystem=strict",
		"  [Service]",
		"  ProtectHome=read-only",
		"  ReadWritePaths=/etc/determined/tls /root/.vega",
		"systemctl edit certagent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"in /etc/ssl/certagent", "in /var/lib/certagent"} {
		if strings.Contains(out, bad) {
			t.Errorf("check warns about a writable directory (%s):\n%s", bad, out)
		}
	}

	// The printed drop-in, installed, silences the warnings.
	var dropin []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "  [Service]") || strings.HasPrefix(l, "  ProtectHome=") || strings.HasPrefix(l, "  ReadWritePaths=") {
			dropin = append(dropin, strings.TrimSpace(l))
		}
	}
	dirs = packagedUnitDirs(t, map[string]string{"override.conf": strings.Join(dropin, "\n") + "\n"})
	_, out, _ = runCLI(t, "check", "--config", cfg)
	if strings.Contains(out, "warning:") {
		t.Errorf("warnings left with the printed drop-in %q installed:\n%s", dropin, out)
	}
}

func TestSandboxFromShow(t *testing.T) {
	sb := sandboxFromShow("LoadState=loaded\nProtectSystem=strict\nProtectHome=read-only\nPrivateTmp=yes\n" +
		"ReadWritePaths=-/etc/ssl/certagent /root/.vega\nReadOnlyPaths=/etc/ssl/certagent/ro\nInaccessiblePaths=\nStateDirectory=certagent\n")
	for dir, want := range map[string]string{
		"/root/.vega":             "",
		"/root/other":             "ProtectHome=read-only",
		"/etc/ssl/certagent/web":  "",
		"/etc/ssl/certagent/ro/x": "ReadOnlyPaths=/etc/ssl/certagent/ro",
		"/var/lib/certagent":      "",
		"/var/lib/other":          "ProtectSystem=strict",
		"/tmp/x":                  "PrivateTmp=yes (its /tmp is its own: other services do not see the files)",
	} {
		if got := sb.denies(dir); got != want {
			t.Errorf("denies(%s) = %q, want %q", dir, got, want)
		}
	}
	if sandboxFromShow("LoadState=not-found\n") != nil {
		t.Error("a unit systemd does not know gave a sandbox")
	}
}

func TestSandboxFromFilesResetsAndOverrides(t *testing.T) {
	dirs := packagedUnitDirs(t, map[string]string{
		"10-a.conf": "[Service]\nReadWritePaths=\nReadWritePaths=/srv/tls\n",
		"20-b.conf": "[Service]\nProtectSystem=full\n",
	})
	sb := sandboxFromFiles(dirs)
	if got := sb.denies("/etc/ssl/certagent"); got != "ProtectSystem=full" {
		t.Errorf("after an empty ReadWritePaths= reset /etc/ssl/certagent: %q, want ProtectSystem=full", got)
	}
	if got := sb.denies("/srv/tls"); got != "" {
		t.Errorf("/srv/tls: %q", got)
	}
	if got := sb.denies("/var/lib/certagent"); got != "" {
		t.Errorf("StateDirectory: %q", got)
	}
}

package systemd

import (
	"path"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Issue 14, sections 3 and 4, under the real systemd of a booted Debian
// container with the .deb installed.

// noInotify makes every inotify_init1(2) of certagent fail with EMFILE,
// the error the kernel returns once the user's fs.inotify.max_user_instances
// are taken. The container shares the host's user namespace, so lowering
// or exhausting that limit for root would also break every other root
// process on the host (other containers' systemd included); a seccomp
// filter gives certagent the same failure and nobody else.
const noInotify = "[Service]\nSystemCallFilter=~inotify_init1:EMFILE inotify_init:EMFILE\n"

// TestWatchDegradedStillRepairsADeletedKey: with inotify unavailable the
// daemon polls the watched files every 10 s, so a deleted key is re-issued
// well before the 12 h check_interval; the status line, `certagent status`
// and the journal say the watch is degraded.
func TestWatchDegradedStillRepairsADeletedKey(t *testing.T) {
	c := startPackaged(t, noInotify)
	manage(t, c, detConfig, detUnit)
	const key = "/etc/ssl/certagent/det/key.pem"
	waitFor(t, c, 30*time.Second, "the status line to say the watch is degraded", func() bool {
		return strings.Contains(show(t, c, "certagent.service", "StatusText"), "watch degraded: inotify unavailable (too many open files)")
	})
	if e := journalJSON(t, c, "-u", "certagent", "CERTAGENT_EVENT=watch_degraded"); len(e) == 0 {
		t.Errorf("no CERTAGENT_EVENT=watch_degraded entry in the journal")
	}
	if out := c.Exec(t, "certagent", "status"); !strings.Contains(out, "watch degraded: inotify unavailable (too many open files), polling every 10s") {
		t.Errorf("certagent status does not say the watch is degraded:\n%s", out)
	}
	if st := certStatus(t, c, "det"); !strings.Contains(st["watch_degraded"].(string), "too many open files") {
		t.Errorf("certagent status --json: watch_degraded = %v", st["watch_degraded"])
	}

	before := diskSerial(t, c, detCertFile)
	c.Exec(t, "rm", key)
	// One poll interval (10 s), the settle time and an issuance; the
	// deadline only bounds a hang, the backstop would take 12 h.
	waitFor(t, c, 60*time.Second, "a new pair after deleting the key", func() bool {
		return exists(c, key) && diskSerial(t, c, detCertFile) != before
	})
	c.Exec(t, "sh", "-c", "openssl x509 -noout -pubkey -in "+detCertFile+" > /run/a && "+
		"openssl pkey -pubout -in "+key+" > /run/b && cmp /run/a /run/b")
	if e := journalJSON(t, c, "-u", "certagent", "CERTAGENT_EVENT=external_change", "CERTAGENT_CERT=det"); len(e) == 0 {
		t.Errorf("the deleted key was not reported as an external change")
	}
}

// acceptSecondCert refuses the first new serial only (an operator then
// fixes the service): the rollback's retry then deploys a new cert that
// the unit accepts.
const acceptSecondCert = `#!/bin/sh
s=$(openssl x509 -noout -serial -in /etc/ssl/certagent/det/cert.pem) || exit 1
[ -f /var/lib/det-good-serial ] || echo "$s" > /var/lib/det-good-serial
if [ "$s" != "$(cat /var/lib/det-good-serial)" ] && [ ! -f /var/lib/det-refused ]; then
	touch /var/lib/det-refused
	echo "refusing the new certificate $s" >&2
	exit 1
fi
`

// TestRollbackRetryAtIsHonoured: beside the running daemon, a forced
// one-shot renewal of a cert that is not due is rolled back. The
// retry_at it logs is what status shows, not the cert's renewal time
// weeks later, and the daemon retries then: the cert ends up renewed and
// ok, without another forced renewal.
func TestRollbackRetryAtIsHonoured(t *testing.T) {
	c := startPackaged(t, "")
	c.WriteFile(t, "/usr/local/bin/refuse-new-cert", acceptSecondCert, 0o755)
	manage(t, c, detConfig+"rollback = true\n", pickyUnit)
	c.Exec(t, "systemctl", "start", "determined-master.service")
	waitActive(t, c, "determined-master.service", 10*time.Second)
	good := servedSerial(t, c)

	out, err := c.Run("certagent", "renew", "--force", "det")
	if err == nil || !strings.Contains(out, "rolled back") {
		t.Fatalf("certagent renew --force det with a refusing unit: err=%v, want a rollback\n%s", err, out)
	}
	m := regexp.MustCompile(`retry_at[=":]+\s*"?([0-9TZ:-]+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the rollback logged no retry_at:\n%s", out)
	}
	logged, err := time.Parse(time.RFC3339, m[1])
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	waitFor(t, c, 30*time.Second, "status to show det failed with the logged retry time", func() bool {
		st = certStatus(t, c, "det")
		next, _ := time.Parse(time.RFC3339Nano, str(st["next_renewal"]))
		// The log shows whole seconds.
		return st["state"] == "failed" && next.Truncate(time.Second).Equal(logged)
	})
	if got := diskSerial(t, c, detCertFile); got != good {
		t.Fatalf("after the rollback the cert on disk is %s, want the previous %s", got, good)
	}
	// The daemon retries at retry_at (about a minute) on its own.
	waitFor(t, c, time.Until(logged)+90*time.Second, "the daemon's retry to leave det ok on a new cert", func() bool {
		st = certStatus(t, c, "det")
		return st["state"] == "ok" && diskSerial(t, c, detCertFile) != good
	})
	if got := servedSerial(t, c); got == good {
		t.Errorf("the unit still serves the rolled-back-to %s after the retry", good)
	}
	if renewed := renewedSerials(t, c, "det"); !renewed[diskSerial(t, c, detCertFile)] {
		t.Errorf("the daemon's journal has no renewed entry for the cert on disk (renewed: %v)", renewed)
	}
}

func str(v any) string { s, _ := v.(string); return s }

// beforeCheck returns the commands an example's header lists under
// "Before `certagent check` passes on this file".
func beforeCheck(example string) []string {
	var cmds []string
	in := false
	for _, l := range strings.Split(example, "\n") {
		switch {
		case strings.HasPrefix(l, "# Before `certagent check` passes"):
			in = true
		case in && strings.HasPrefix(l, "#   "):
			cmds = append(cmds, strings.TrimSpace(strings.TrimPrefix(l, "#")))
		case in && !strings.HasPrefix(l, "# ") && !strings.HasPrefix(l, "#\t"):
			in = false
		case in && !strings.HasPrefix(l, "#   ") && len(cmds) > 0:
			in = false
		}
	}
	return cmds
}

var ownerRE = regexp.MustCompile(`(?m)^(owner|group)\s*=\s*"([^"]+)"`)

// TestShippedExamplesPassCheck: every example the .deb ships passes
// `certagent check`, after what its header says to do first (copy the
// shipped templates, create users and files), then creating any other
// user or group it names.
func TestShippedExamplesPassCheck(t *testing.T) {
	c := startPackaged(t, "")
	list := strings.Fields(c.Exec(t, "sh", "-c", "ls /usr/share/doc/certagent/examples/*.toml"))
	if len(list) < 7 {
		t.Fatalf("the package ships %d examples: %v", len(list), list)
	}
	sort.Strings(list)
	for _, f := range list {
		t.Run(path.Base(f), func(t *testing.T) {
			text := c.Exec(t, "cat", f)
			for _, cmd := range beforeCheck(text) {
				c.Exec(t, "sh", "-c", cmd)
			}
			for _, m := range ownerRE.FindAllStringSubmatch(text, -1) {
				if m[1] == "owner" {
					c.Exec(t, "sh", "-c", "id -u "+m[2]+" >/dev/null 2>&1 || useradd --system --no-create-home "+m[2])
				} else {
					c.Exec(t, "sh", "-c", "getent group "+m[2]+" >/dev/null || groupadd --system "+m[2])
				}
			}
			out, err := c.Run("certagent", "check", "--config", f)
			if err != nil || !strings.Contains(out, "configuration ok") {
				t.Errorf("certagent check --config %s: %v\n%s", f, err, out)
			}
		})
	}
	// The templates the examples name are the shipped ones.
	if out, err := c.Run("sh", "-c", "ls /usr/share/doc/certagent/examples/templates/*.tmpl"); err != nil || len(strings.Fields(out)) < 5 {
		t.Errorf("shipped templates: %v %q", err, out)
	}
}

// TestCheckWarnsAboutTheVegaSandbox: the shipped Vega example writes to
// /root/.vega, which the packaged unit may not; check says so and prints
// the drop-in; installed as printed, the daemon writes there.
func TestCheckWarnsAboutTheVegaSandbox(t *testing.T) {
	c := startPackaged(t, "")
	const ex = "/usr/share/doc/certagent/examples/vega.toml"
	for _, cmd := range beforeCheck(c.Exec(t, "cat", ex)) {
		c.Exec(t, "sh", "-c", cmd)
	}
	out := c.Exec(t, "certagent", "check", "--config", ex)
	if !strings.Contains(out, "may not write in /root/.vega (ProtectHome=yes, from systemctl show certagent)") {
		t.Fatalf("check does not warn about /root/.vega:\n%s", out)
	}
	var dropin, install []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case l == "[Service]" || strings.HasPrefix(l, "ProtectHome=") || strings.HasPrefix(l, "ReadWritePaths="):
			dropin = append(dropin, l)
		case strings.HasPrefix(l, "install -d "):
			install = append(install, l)
		}
	}
	if len(dropin) < 2 || len(install) != 1 {
		t.Fatalf("check printed no usable drop-in:\n%s", out)
	}
	c.Exec(t, "sh", "-c", install[0])
	c.WriteFile(t, "/etc/systemd/system/certagent.service.d/override.conf", strings.Join(dropin, "\n")+"\n", 0o644)
	c.Exec(t, "systemctl", "daemon-reload")
	if out := c.Exec(t, "certagent", "check", "--config", ex); strings.Contains(out, "warning:") {
		t.Errorf("check still warns with the printed drop-in installed:\n%s", out)
	}
	// The daemon, restarted with that drop-in, writes a plain (dask) pair
	// into /root/.vega.
	c.WriteFile(t, "/etc/certagent/conf.d/dask.toml", `[issuers.vega]
type = "local"
[certs.dask-server]
issuer = "vega"
dns_names = ["scheduler.example.com"]
cert_file = "/root/.vega/server_dask.crt"
key_file = "/root/.vega/server_dask.key"
`, 0o644)
	c.Exec(t, "systemctl", "restart", "certagent.service")
	waitFor(t, c, 30*time.Second, "the daemon to write /root/.vega/server_dask.crt", func() bool {
		return exists(c, "/root/.vega/server_dask.crt")
	})
}

// TestPurgeWarnsAboutTheLocalCAAndLeavesNoStaleUnit: after dpkg -r the
// service manager has no stale unit ("changed on disk"), and dpkg -P says
// it deletes the local CA and where it was, and keeps the operator's
// drop-ins as the docs say.
func TestPurgeWarnsAboutTheLocalCAAndLeavesNoStaleUnit(t *testing.T) {
	c := startPackaged(t, "")
	manage(t, c, detConfig, detUnit)
	c.Exec(t, "dpkg", "-r", "certagent")
	props := c.Exec(t, "systemctl", "show", "certagent.service", "-p", "NeedDaemonReload,LoadState")
	if strings.Contains(props, "NeedDaemonReload=yes") {
		t.Errorf("after dpkg -r systemd needs a daemon-reload for certagent.service (unit file changed on disk):\n%s", props)
	}
	out, err := c.Run("dpkg", "-P", "certagent")
	if err != nil {
		t.Fatalf("dpkg -P: %v\n%s", err, out)
	}
	if !strings.Contains(out, "purge deletes the local CA cluster (its key was in /var/lib/certagent/ca/cluster)") {
		t.Errorf("dpkg -P does not warn about the local CA it deletes:\n%s", out)
	}
	if !exists(c, "/etc/certagent/conf.d/det.toml") {
		t.Errorf("dpkg -P deleted the operator's drop-in, which the docs say is kept")
	}
	if exists(c, "/var/lib/certagent") {
		t.Errorf("dpkg -P left /var/lib/certagent")
	}
	props = c.Exec(t, "systemctl", "show", "certagent.service", "-p", "NeedDaemonReload")
	if strings.Contains(props, "NeedDaemonReload=yes") {
		t.Errorf("after dpkg -P systemd needs a daemon-reload for certagent.service:\n%s", props)
	}
}

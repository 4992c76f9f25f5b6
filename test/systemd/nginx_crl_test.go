package systemd

import (
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/test/systemd/nspawn"
)

// Issue 16, section 4: nginx under the real systemd, with
// `ssl_verify_client on` and `ssl_crl` on certagent's crl_file, refuses a
// revoked client cert after `certagent revoke` and accepts its
// replacement; certagent's crl_action reloads nginx.

// nginxCRLConfig: a local CA issues nginx's server cert (whose crl_file
// nginx reads, reloaded by crl_action) and a client cert.
const nginxCRLConfig = `[issuers.mesh]
type = "local"

[certs.gateway]
issuer = "mesh"
dns_names = ["localhost"]
ip_addresses = ["127.0.0.1"]
usage = ["server"]
cert_file = "/etc/ssl/certagent/gateway/cert.pem"
key_file = "/etc/ssl/certagent/gateway/key.pem"
ca_file = "/etc/ssl/certagent/gateway/ca.pem"
crl_file = "/etc/ssl/certagent/gateway/mesh.crl"
units = ["nginx-mtls.service"]
action = "restart"
crl_action = "reload"

[certs.client]
issuer = "mesh"
common_name = "collaborator-1"
dns_names = ["collaborator-1"]
usage = ["client"]
cert_file = "/etc/ssl/certagent/client/cert.pem"
key_file = "/etc/ssl/certagent/client/key.pem"
`

const nginxConf = `daemon off;
pid /run/nginx-mtls.pid;
error_log stderr info;
events {}
http {
    access_log off;
    server {
        listen 127.0.0.1:9443 ssl;
        ssl_certificate /etc/ssl/certagent/gateway/cert.pem;
        ssl_certificate_key /etc/ssl/certagent/gateway/key.pem;
        ssl_client_certificate /etc/ssl/certagent/gateway/ca.pem;
        ssl_verify_client on;
        ssl_crl /etc/ssl/certagent/gateway/mesh.crl;
        location / { return 200 "hello $ssl_client_serial\n"; }
    }
}
`

const nginxUnit = `[Unit]
Description=nginx requiring client certs checked against certagent's CRL
[Service]
ExecStart=/usr/sbin/nginx -c /etc/nginx-mtls/nginx.conf
ExecReload=/bin/kill -HUP $MAINPID
`

// nginxAnswer sends one request with the client pair and returns nginx's
// answer (status line and body), or openssl's complaint.
func nginxAnswer(c *nspawn.Container, cert, key string) string {
	out, _ := c.Run("sh", "-c", "printf 'GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' | "+
		"openssl s_client -quiet -connect 127.0.0.1:9443 -servername localhost -CAfile /etc/ssl/certagent/gateway/ca.pem "+
		"-verify_return_error -cert "+cert+" -key "+key+" 2>&1")
	return out
}

// TestNginxRefusesARevokedClientAfterRevoke: `certagent revoke client`
// (done by the daemon) revokes the client cert at the local CA, deploys a
// new one and refreshes the gateway's crl_file, whose crl_action reloads
// nginx (a reload: the same main PID). nginx then refuses the old client
// cert as revoked and accepts the replacement.
func TestNginxRefusesARevokedClientAfterRevoke(t *testing.T) {
	c := startPackaged(t, "")
	c.WriteFile(t, "/etc/nginx-mtls/nginx.conf", nginxConf, 0o644)
	c.WriteFile(t, "/etc/systemd/system/nginx-mtls.service", nginxUnit, 0o644)
	c.WriteFile(t, "/etc/certagent/conf.d/nginx.toml", nginxCRLConfig, 0o644)
	c.Exec(t, "systemctl", "daemon-reload")
	c.Exec(t, "systemctl", "reload", "certagent.service")
	waitFor(t, c, 30*time.Second, "certagent to write the certs and the CRL", func() bool {
		return exists(c, "/etc/ssl/certagent/gateway/mesh.crl") && exists(c, "/etc/ssl/certagent/client/cert.pem")
	})
	c.Exec(t, "systemctl", "start", "nginx-mtls.service")
	waitActive(t, c, "nginx-mtls.service", 30*time.Second)

	const oldCert, oldKey = "/root/old-client.pem", "/root/old-client.key"
	c.Exec(t, "cp", "/etc/ssl/certagent/client/cert.pem", oldCert)
	c.Exec(t, "cp", "/etc/ssl/certagent/client/key.pem", oldKey)
	var out string
	waitFor(t, c, 10*time.Second, "nginx to accept the client cert", func() bool {
		out = nginxAnswer(c, oldCert, oldKey)
		return strings.Contains(out, "200 OK")
	})
	oldSerial := strings.ToUpper(strings.TrimPrefix(diskSerial(t, c, oldCert), "serial="))
	if !strings.Contains(strings.ToUpper(out), oldSerial) {
		t.Fatalf("nginx did not see the client cert %s:\n%s", oldSerial, out)
	}
	pid := show(t, c, "nginx-mtls.service", "MainPID")

	res, err := c.Run("certagent", "revoke", "client", "--reason", "keyCompromise")
	if err != nil || !strings.Contains(res, "event=revoked") {
		t.Fatalf("certagent revoke client: %v\n%s", err, res)
	}
	if e := journalJSON(t, c, "-u", "certagent", "CERTAGENT_EVENT=control_request", "CERTAGENT_OP=revoke"); len(e) != 1 {
		t.Errorf("%d control_request entries for the revoke, want 1 (the daemon does it)", len(e))
	}
	reloaded := func() bool {
		for _, e := range journalJSON(t, c, "-u", "certagent", "CERTAGENT_EVENT=unit_action", "CERTAGENT_CERT=crl:gateway") {
			if e["CERTAGENT_UNIT"] == "nginx-mtls.service" && e["CERTAGENT_VERDICT"] == "ok" {
				return true
			}
		}
		return false
	}
	waitFor(t, c, 30*time.Second, "certagent to reload nginx after the CRL changed", reloaded)
	if got := show(t, c, "nginx-mtls.service", "MainPID"); got != pid {
		t.Errorf("nginx was restarted (MainPID %s → %s), want a reload", pid, got)
	}
	if j, _ := c.Run("journalctl", "--no-pager", "-u", "nginx-mtls.service"); !strings.Contains(j, "reconfiguring") {
		t.Errorf("nginx's log shows no reload:\n%s", j)
	}

	newCert := "/etc/ssl/certagent/client/cert.pem"
	if diskSerial(t, c, newCert) == diskSerial(t, c, oldCert) {
		t.Fatal("revoke deployed no new client cert")
	}
	waitFor(t, c, 10*time.Second, "nginx to refuse the revoked client cert", func() bool {
		out = nginxAnswer(c, oldCert, oldKey)
		return strings.Contains(out, "400 Bad Request") && !strings.Contains(out, "hello")
	})
	if j, _ := c.Run("journalctl", "--no-pager", "-u", "nginx-mtls.service"); !strings.Contains(j, "certificate revoked") {
		t.Errorf("nginx's log does not say the client cert is revoked:\n%s", j)
	}
	if out := nginxAnswer(c, newCert, "/etc/ssl/certagent/client/key.pem"); !strings.Contains(out, "200 OK") || !strings.Contains(out, "hello") {
		t.Errorf("nginx refused the replacement client cert:\n%s", out)
	}
}

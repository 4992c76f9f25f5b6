package recipes

import (
	"os/exec"
	"strings"
	"testing"
)

const flowerConfig = `
[agent]
state_dir = "{{dir}}/state"
[issuers.flower]
type = "local"
[certs.superlink-fleet]
preset = "flower"
issuer = "flower"
dns_names = ["superlink.example.com"]
ip_addresses = ["127.0.0.1"]
cert_file = "{{dir}}/certificates/server.pem"
key_file = "{{dir}}/certificates/server.key"
ca_file = "{{dir}}/certificates/ca.crt"
[certs.no-ip]
issuer = "flower"
dns_names = ["superlink.example.com"]
cert_file = "{{dir}}/no-ip/server.pem"
key_file = "{{dir}}/no-ip/server.key"
ca_file = "{{dir}}/no-ip/ca.crt"
`

// TestFlowerGRPC: Python gRPC (Debian python3-grpcio) serves with the
// written server.pem/server.key and a client trusting only ca.crt calls
// it at 127.0.0.1; the same client refuses a cert without the IP SAN.
func TestFlowerGRPC(t *testing.T) {
	needPython(t, "grpc")
	h := newHost(t)
	h.write(t, flowerConfig)
	h.renew(t)
	out, err := exec.Command(python, "flower_grpc.py", h.path("certificates/server.pem"),
		h.path("certificates/server.key"), h.path("certificates/ca.crt")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "pong:hello") {
		t.Fatalf("grpc unary call over TLS failed: %v\n%s", err, out)
	}
	out, err = exec.Command(python, "flower_grpc.py", h.path("no-ip/server.pem"),
		h.path("no-ip/server.key"), h.path("no-ip/ca.crt")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("grpc call to a cert without the IP SAN: err %v, want exit 3 (refused)\n%s", err, out)
	}
	// The preset catches that mistake before any client does.
	h.write(t, strings.Replace(flowerConfig, "[certs.no-ip]\n", "[certs.no-ip]\npreset = \"flower\"\n", 1))
	r := h.certagent(t, "check")
	if r.code != 2 || !strings.Contains(r.stderr, `cert "no-ip": key "ip_addresses": preset "flower" needs at least one IP address`) {
		t.Errorf("check with preset flower and no IP SAN: exit %d\n%s", r.code, r.stderr)
	}
}

package cluster

import (
	"crypto/rsa"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certagent/certagent/agent/formats"
)

// TestRecipeClusterExamples runs every recipe's "Several hosts" example
// (docs/recipes/*.md), one certagent per role on hosts of their own,
// against one real step-ca, and hands what they wrote to a real peer of
// that system's TLS stack.
func TestRecipeClusterExamples(t *testing.T) {
	ca := newStepCA(t)
	t.Run("determined", func(t *testing.T) { determinedCluster(t, ca) })
	t.Run("flower", func(t *testing.T) { flowerCluster(t, ca) })
	t.Run("dask", func(t *testing.T) { daskCluster(t, ca) })
	t.Run("mindio", func(t *testing.T) { mindioCluster(t, ca) })
}

// determinedCluster: the master's cert carries its chain up to step-ca's
// root (Determined: a cert not from a well-known CA must), and an agent
// trusting only its own master_cert (the agent host's ca_file) completes
// a TLS handshake with the master's pair under master_cert_name. It is
// the name that makes it work: verified as the IP the agent dials
// (127.0.0.1, not in the cert), the chain is refused, as Determined's Go
// agent would refuse it.
func determinedCluster(t *testing.T, ca *stepCA) {
	master := enrolledExample(t, ca, "determined-cluster-master.toml", "")
	agent := enrolledExample(t, ca, "determined-cluster-agent.toml", "")
	crt, key := master.path("/etc/determined/tls/master.crt"), master.path("/etc/determined/tls/master.key")
	masterCert := agent.path("/etc/determined/tls/master-ca.crt")
	chain := readCerts(t, crt)
	if root := readCerts(t, ca.Root)[0]; len(chain) != 3 || !chain[2].Equal(root) {
		t.Fatalf("master.crt holds %d certs, want leaf, intermediate and step-ca's root last", len(chain))
	}
	verifyFiles(t, masterCert, crt, key, masterCert)
	inter := x509.NewCertPool()
	inter.AddCert(chain[1])
	for name, ok := range map[string]bool{"det.example.com": true, "127.0.0.1": false} {
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: poolFile(t, masterCert), Intermediates: inter, DNSName: name})
		if (err == nil) != ok {
			t.Errorf("agent verifying the master as %s: %v, want accepted %v", name, err, ok)
		}
	}
}

// flowerCluster: the SuperLink's Fleet API cert has the IP SANs its
// clients dial, and a gRPC client holding only the SuperNode host's
// ca.crt (--root-certificates) completes a call to a gRPC server with
// the SuperLink's pair at 127.0.0.1; each AppIo pair serves its own
// host's SuperExec the same way.
func flowerCluster(t *testing.T, ca *stepCA) {
	needPython(t, "grpc")
	link := enrolledExample(t, ca, "flower-cluster-superlink.toml", "")
	node := enrolledExample(t, ca, "flower-cluster-supernode.toml", "")
	fleet := link.path("/etc/flower/tls/fleet/server.pem")
	var ips []string
	for _, ip := range leafOf(t, fleet).IPAddresses {
		ips = append(ips, ip.String())
	}
	if strings.Join(ips, ",") != "10.0.0.10,127.0.0.1" {
		t.Errorf("Fleet API cert IP SANs %v, want 10.0.0.10 and 127.0.0.1", ips)
	}
	script := filepath.Join("..", "recipes", "flower_grpc.py")
	for _, c := range []struct{ what, pem, ca string }{
		{"SuperNode -> SuperLink Fleet API", fleet, node.path("/etc/flower/tls/ca.crt")},
		{"SuperExec -> ServerAppIo", link.path("/etc/flower/tls/serverappio/server.pem"), link.path("/etc/flower/tls/serverappio/ca.crt")},
		{"SuperExec -> ClientAppIo", node.path("/etc/flower/tls/clientappio/server.pem"), node.path("/etc/flower/tls/ca.crt")},
	} {
		key := strings.TrimSuffix(c.pem, "server.pem") + "server.key"
		if code, _, out := peer(t, script, c.pem, key, c.ca); code != 0 {
			t.Errorf("%s: gRPC call failed (exit %d):\n%s", c.what, code, out)
		}
	}
}

// daskCluster: a dask scheduler with the scheduler host's files and a
// worker and client with the worker host's run a task over TLS 1.3 with
// both ends verified; TLS 1.2 and a client without a cert are refused.
func daskCluster(t *testing.T, ca *stepCA) {
	needPython(t, "distributed")
	sched := enrolledExample(t, ca, "vega-cluster-dask-scheduler.toml", "")
	worker := enrolledExample(t, ca, "vega-cluster-dask-worker.toml", "")
	for _, k := range []string{sched.path("/root/.vega/server_dask.key"), worker.path("/root/.vega/client_dask.key")} {
		if m := fileMode(t, k); m != 0o600 {
			t.Errorf("%s mode %04o, want 0600", k, m)
		}
	}
	for _, c := range []string{sched.path("/root/.vega/server_dask.crt"), worker.path("/root/.vega/client_dask.crt")} {
		if pub, ok := leafOf(t, c).PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 4096 {
			t.Errorf("%s: key is not RSA 4096, as the Vega guide makes it", c)
		}
	}
	code, found, out := peer(t, "dask_hosts.py",
		sched.path("/root/.vega/dask-ca.crt"), sched.path("/root/.vega/server_dask.crt"), sched.path("/root/.vega/server_dask.key"),
		worker.path("/root/.vega/dask-ca.crt"), worker.path("/root/.vega/client_dask.crt"), worker.path("/root/.vega/client_dask.key"))
	if code != 0 || !strings.Contains(found, "result 42 tls1.3 mutual") {
		t.Fatalf("dask over two hosts' files: exit %d\n%s", code, out)
	}
	t.Log(found)
}

// mindioCluster: the controller's host and a processor's host each get a
// tls_info of their own whose fields name their own files, under the
// same CA; Python's ssl (OpenSSL) opens each tlsPk with its tlsPkPwd and
// the two complete mutual TLS, the processor verifying the controller's
// name; the processor's pair cannot pass for the controller.
func mindioCluster(t *testing.T, ca *stepCA) {
	ctrl := enrolledExample(t, ca, "mindio-cluster-controller.toml", "Ctrl-Key!pw9")
	proc := enrolledExample(t, ca, "mindio-cluster-processor.toml", "Rank1-Key!pw7")
	c, p := tlsInfo(t, ctrl, "Ctrl-Key!pw9"), tlsInfo(t, proc, "Rank1-Key!pw7")
	args := func(srv, cli formats.TLSInfo, name string) []string {
		return []string{srv.Cert, srv.Key, srv.KeyPassword, filepath.Join(srv.CAPath, srv.CAFiles[0]),
			cli.Cert, cli.Key, cli.KeyPassword, filepath.Join(cli.CAPath, cli.CAFiles[0]), name}
	}
	if code, found, out := peer(t, "mtls.py", args(c, p, "controller.example.com")...); code != 0 || !strings.HasPrefix(found, "mutual ") {
		t.Fatalf("controller <- processor mutual TLS: exit %d\n%s", code, out)
	} else {
		t.Log(found)
	}
	if code, found, out := peer(t, "mtls.py", args(p, c, "controller.example.com")...); code != 3 {
		t.Fatalf("the processor's pair passed for the controller: exit %d\n%s", code, out)
	} else {
		t.Log(found)
	}
}

// tlsInfo reads a host's tls_info: 0600, its own cert and key, the
// password given, step-ca's root as the CA, and no CRL fields (step-ca
// refuses revoked certs at renewal; certagent fetches no CRL from it).
func tlsInfo(t *testing.T, h *roleHost, password string) formats.TLSInfo {
	t.Helper()
	file := h.path("/etc/mindio/tls/tls_info")
	if m := fileMode(t, file); m != 0o600 {
		t.Errorf("tls_info mode %04o, want 0600", m)
	}
	ti, err := formats.ParseTLSInfo(readFile(t, file))
	if err != nil {
		t.Fatal(err)
	}
	if ti.Cert != h.path("/etc/mindio/tls/cert.pem") || ti.Key != h.path("/etc/mindio/tls/key.pem") || ti.KeyPassword != password ||
		ti.CAPath != h.path("/etc/mindio/tls/ca")+"/" || len(ti.CAFiles) != 1 || ti.CAFiles[0] != "ca.pem" || ti.CRLPath != "" {
		t.Fatalf("tls_info of %s: %+v", h.root, ti)
	}
	ca := readCerts(t, filepath.Join(ti.CAPath, ti.CAFiles[0]))
	if chain := readCerts(t, ti.Cert); len(ca) != 1 || len(chain) != 2 || chain[1].CheckSignatureFrom(ca[0]) != nil {
		t.Fatalf("tlsCert is not leaf + intermediate under tlsCaFile (%d certs, CA file %d certs)", len(chain), len(ca))
	}
	return ti
}

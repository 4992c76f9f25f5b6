package localca

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certagent/certagent/agent"
	"github.com/certagent/certagent/agent/pki"
	"github.com/certagent/certagent/internal/testbin"
)

func openssl(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = nil // /dev/null: s_client closes after the handshake
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// peerFiles issues a server and a client cert and writes them to dir:
// server cert.pem/key.pem, client client.pem/client.key, and ca.pem.
func peerFiles(t *testing.T, ca *CA, kt pki.KeyType, dir string) (server, client *agent.Bundle) {
	t.Helper()
	req := webRequest()
	req.KeyType = kt
	server = issue(t, ca, req)
	writePair(t, dir, server)
	creq := agent.Request{Name: "client", CommonName: "client-" + string(kt), ClientAuth: true, KeyType: kt, Validity: time.Hour}
	client = issue(t, ca, creq)
	cdir := t.TempDir()
	cf, kf := writePair(t, cdir, client)
	for from, to := range map[string]string{cf: "client.pem", kf: "client.key"} {
		if err := os.Rename(from, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	return server, client
}

// startSServer runs openssl s_server for one connection on a free
// loopback port chosen by the kernel and returns that port.
func startSServer(t *testing.T, bin, dir string) string {
	t.Helper()
	cmd := exec.Command(bin, "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
		"-cert", filepath.Join(dir, "cert.pem"), "-key", filepath.Join(dir, "key.pem"),
		"-CAfile", filepath.Join(dir, "ca.pem"), "-Verify", "1", "-verify_return_error")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// s_server shuts down at EOF on stdin, so hold a pipe open.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "ACCEPT "); ok {
				_, p, _ := net.SplitHostPort(addr)
				port <- p
			}
		}
		close(port)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case p, ok := <-port:
		if !ok || p == "" {
			t.Fatalf("s_server did not start: %s", stderr.String())
		}
		return p
	case <-time.After(60 * time.Second):
		t.Fatalf("s_server printed no ACCEPT line: %s", stderr.String())
	}
	return ""
}

func TestOpenSSLPeer(t *testing.T) {
	bin := testbin.OpenSSL(t)
	ca, _ := newCA(t, issuerCfg("rsa3072", 0))
	for _, kt := range []pki.KeyType{pki.KeyEC256, pki.KeyRSA2048, pki.KeyEd25519} {
		t.Run(string(kt), func(t *testing.T) {
			dir := t.TempDir()
			peerFiles(t, ca, kt, dir)
			ca := filepath.Join(dir, "ca.pem")
			out, err := openssl(t, bin, "verify", "-CAfile", ca, "-purpose", "sslserver", filepath.Join(dir, "cert.pem"))
			if err != nil || !strings.Contains(out, "cert.pem: OK") {
				t.Fatalf("openssl verify: %v\n%s", err, out)
			}
			out, err = openssl(t, bin, "verify", "-CAfile", ca, "-purpose", "sslclient", filepath.Join(dir, "client.pem"))
			if err != nil || !strings.Contains(out, "client.pem: OK") {
				t.Fatalf("openssl verify client: %v\n%s", err, out)
			}
			out, err = openssl(t, bin, "x509", "-noout", "-text", "-in", filepath.Join(dir, "cert.pem"))
			for _, want := range []string{"DNS:web.example.com", "DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
				"TLS Web Server Authentication", "CA:FALSE", "Digital Signature", "X509v3 Subject Key Identifier",
				"X509v3 Authority Key Identifier", "Subject: CN = web.example.com", "Issuer: CN = certagent test ca"} {
				if err != nil || !strings.Contains(out, want) {
					t.Errorf("openssl x509 -text lacks %q (err %v)", want, err)
				}
			}
			if strings.Contains(out, "TLS Web Client Authentication") {
				t.Error("server-only cert carries clientAuth")
			}
			out, _ = openssl(t, bin, "x509", "-noout", "-text", "-in", filepath.Join(dir, "client.pem"))
			if !strings.Contains(out, "TLS Web Client Authentication") {
				t.Errorf("client cert lacks clientAuth:\n%s", out)
			}
			if _, err := openssl(t, bin, "pkey", "-noout", "-in", filepath.Join(dir, "key.pem")); err != nil {
				t.Errorf("openssl pkey cannot read key.pem: %v", err)
			}

			client := func(port string, extra ...string) (string, error) {
				args := append([]string{"s_client", "-connect", "127.0.0.1:" + port, "-CAfile", ca,
					"-verify_return_error", "-cert", filepath.Join(dir, "client.pem"), "-key", filepath.Join(dir, "client.key")}, extra...)
				return openssl(t, bin, args...)
			}
			out, err = client(startSServer(t, bin, dir), "-servername", "localhost", "-verify_hostname", "localhost")
			if err != nil || !strings.Contains(out, "Verify return code: 0 (ok)") {
				t.Fatalf("s_client by hostname: %v\n%s", err, out)
			}
			out, err = client(startSServer(t, bin, dir), "-verify_ip", "127.0.0.1")
			if err != nil || !strings.Contains(out, "Verify return code: 0 (ok)") {
				t.Fatalf("s_client by ip: %v\n%s", err, out)
			}
			// The same check must fail for a name the cert does not carry.
			out, err = client(startSServer(t, bin, dir), "-servername", "other.example.com", "-verify_hostname", "other.example.com")
			if err == nil || !strings.Contains(out, "hostname mismatch") {
				t.Fatalf("s_client accepted a wrong hostname: %v\n%s", err, out)
			}
		})
	}
}

func TestGoTLSHandshake(t *testing.T) {
	ca, _ := newCA(t, issuerCfg("ec384", 0))
	dir := t.TempDir()
	server, _ := peerFiles(t, ca, pki.KeyEC256, dir)
	serverPair, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	clientPair, err := tls.LoadX509KeyPair(filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(server.Roots[0])

	handshake := func(serverName string, clientCert tls.Certificate) error {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
			Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		serverErr := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				err = c.(*tls.Conn).Handshake()
				c.Close()
			}
			serverErr <- err
		}()
		conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
			RootCAs: pool, ServerName: serverName, Certificates: []tls.Certificate{clientCert}})
		if err == nil {
			_, err = conn.Read(make([]byte, 1)) // TLS 1.3: the server's verdict on our cert arrives here
			if errors.Is(err, io.EOF) {
				err = nil
			}
			conn.Close()
		}
		return errors.Join(err, <-serverErr)
	}
	for _, name := range []string{"localhost", "web.example.com", "127.0.0.1", "::1"} {
		if err := handshake(name, clientPair); err != nil {
			t.Errorf("handshake as %s: %v", name, err)
		}
	}
	if err := handshake("other.example.com", clientPair); err == nil {
		t.Error("handshake with a name the cert lacks succeeded")
	}
	// A serverAuth-only cert must not pass as a client cert.
	if err := handshake("localhost", serverPair); err == nil {
		t.Error("server accepted a client cert without clientAuth")
	}
}

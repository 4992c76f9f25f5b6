package acme

import (
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// assertPortClosed fails when something still accepts on addr.
func assertPortClosed(t *testing.T, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after the order", addr)
	}
}

// serveDir serves root over HTTP on 127.0.0.1:port like a web server
// would for webroot mode; the returned stop is idempotent.
func serveDir(t *testing.T, root string, port int) func() {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(root)), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }
}

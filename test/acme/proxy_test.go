package acme_test

import (
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// proxy is a loopback TCP forwarder whose backend can be swapped. It
// lets a test restart Pebble (which picks new ports) behind one fixed
// address, so certagent's config and stored account URL stay the same,
// and it lets a test act on the first connection (e.g. kill Pebble the
// moment its validation authority connects, i.e. mid-order).
type proxy struct {
	ln net.Listener

	mu      sync.Mutex
	backend string
	onConn  func() // run once, on the next accepted connection
	conns   map[net.Conn]bool
	closed  bool
	wg      sync.WaitGroup
	accepts int
}

// newProxy listens on 127.0.0.1:port (0 picks one) and forwards to
// backend; it is closed at test end.
func newProxy(t *testing.T, port int, backend string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// setBackend points new connections at addr ("" refuses them).
func (p *proxy) setBackend(addr string) {
	p.mu.Lock()
	p.backend = addr
	p.mu.Unlock()
}

// once arranges for fn to run (synchronously, before forwarding) on the
// next connection.
func (p *proxy) once(fn func()) {
	p.mu.Lock()
	p.onConn = fn
	p.mu.Unlock()
}

func (p *proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		p.accepts++
		fn := p.onConn
		p.onConn = nil
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.drop(c)
			if fn != nil {
				fn()
			}
			p.mu.Lock()
			backend := p.backend
			p.mu.Unlock()
			if backend == "" {
				return
			}
			up, err := net.DialTimeout("tcp", backend, 5*time.Second)
			if err != nil {
				return
			}
			p.mu.Lock()
			p.conns[up] = true
			p.mu.Unlock()
			defer p.drop(up)
			done := make(chan struct{}, 2)
			go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
			go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
			<-done // either side closing ends both
		}()
	}
}

func (p *proxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

func (p *proxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// hostPort returns the host:port of a URL such as Pebble's directory.
func hostPort(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

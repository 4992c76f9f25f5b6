package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/challenge/tlsalpn01"
)

// responder is one issuer's shared challenge server. Concurrent orders
// register their tokens in one map; the port is bound when the first
// token arrives and released when the last one leaves, so it is open only
// while a challenge is pending and never bound twice at once.
type responder struct {
	addr  string
	serve func(r *responder, ln net.Listener) (stop func())

	mu      sync.Mutex
	entries map[string]entry // by token
	stop    func()

	listens   atomic.Int64 // times the port was bound, for tests
	maxActive atomic.Int64 // most tokens pending at once, for tests
}

type entry struct{ domain, keyAuth string }

func newHTTPResponder(addr string) *responder {
	return &responder{addr: addr, serve: serveHTTP, entries: map[string]entry{}}
}

func newTLSResponder(addr string) *responder {
	return &responder{addr: addr, serve: serveTLSALPN, entries: map[string]entry{}}
}

// add registers a token, binding the port if it is the first one.
func (r *responder) add(domain, token, keyAuth string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.entries) == 0 {
		ln, err := net.Listen("tcp", r.addr)
		if err != nil {
			return fmt.Errorf("listen for challenge on %s: %w", r.addr, err)
		}
		r.listens.Add(1)
		r.stop = r.serve(r, ln)
	}
	r.entries[token] = entry{domain: domain, keyAuth: keyAuth}
	if n := int64(len(r.entries)); n > r.maxActive.Load() {
		r.maxActive.Store(n)
	}
	return nil
}

// remove forgets a token, releasing the port after the last one.
func (r *responder) remove(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.entries[token]; !ok {
		return
	}
	delete(r.entries, token)
	if len(r.entries) == 0 && r.stop != nil {
		r.stop()
		r.stop = nil
	}
}

func (r *responder) lookup(token string) (entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.entries[token]
	return e, ok
}

// byDomain finds the key authorization for a TLS-ALPN SNI name. With a
// single pending entry it is used whatever the SNI (IP identifiers send a
// reverse-DNS name).
func (r *responder) byDomain(name string) (entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.entries {
		if strings.EqualFold(e.domain, name) {
			return e, true
		}
	}
	if len(r.entries) == 1 {
		for _, e := range r.entries {
			return e, true
		}
	}
	return entry{}, false
}

// serveHTTP answers GET /.well-known/acme-challenge/TOKEN.
func serveHTTP(r *responder, ln net.Listener) func() {
	prefix := http01.PathPrefix
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			token, ok := strings.CutPrefix(req.URL.Path, prefix)
			e, found := r.lookup(token)
			if !ok || !found || req.Method != http.MethodGet {
				http.NotFound(w, req)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(e.keyAuth))
		}),
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	return func() { _ = srv.Close(); <-done }
}

// serveTLSALPN completes acme-tls/1 handshakes with the challenge
// certificate lego builds for the SNI name.
func serveTLSALPN(r *responder, ln net.Listener) func() {
	cfg := &tls.Config{
		NextProtos: []string{tlsalpn01.ACMETLS1Protocol},
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			e, ok := r.byDomain(hello.ServerName)
			if !ok {
				return nil, errors.New("no pending tls-alpn-01 challenge for " + hello.ServerName)
			}
			return tlsalpn01.ChallengeCert(e.domain, e.keyAuth)
		},
	}
	tln := tls.NewListener(ln, cfg)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = conn.(*tls.Conn).HandshakeContext(ctx)
			}()
		}
	}()
	// Handshakes in flight are not waited for: they may need r.mu, which
	// the caller holds; each ends within its own timeout.
	return func() { _ = tln.Close(); <-done }
}

// orderProvider is the challenge.Provider one order hands to lego. It
// forwards to the shared responder and remembers its tokens so that
// release can drop any lego left behind.
type orderProvider struct {
	r      *responder
	mu     sync.Mutex
	tokens map[string]bool
}

func newOrderProvider(r *responder) *orderProvider {
	return &orderProvider{r: r, tokens: map[string]bool{}}
}

// Present implements challenge.Provider.
func (p *orderProvider) Present(domain, token, keyAuth string) error {
	if err := p.r.add(domain, token, keyAuth); err != nil {
		return err
	}
	p.mu.Lock()
	p.tokens[token] = true
	p.mu.Unlock()
	return nil
}

// CleanUp implements challenge.Provider.
func (p *orderProvider) CleanUp(domain, token, keyAuth string) error {
	p.r.remove(token)
	p.mu.Lock()
	delete(p.tokens, token)
	p.mu.Unlock()
	return nil
}

// release removes every token of this order still registered.
func (p *orderProvider) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for token := range p.tokens {
		p.r.remove(token)
		delete(p.tokens, token)
	}
}

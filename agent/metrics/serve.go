package metrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// contentType is the text exposition format's media type.
const contentType = "text/plain; version=0.0.4; charset=utf-8"

// Server timeouts: a scrape is small, so anything slow is a stuck or
// hostile client, not a busy one.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 60 * time.Second
	shutdownTimeout   = 5 * time.Second
)

// Handler serves the metrics at /metrics for GET and HEAD (gzipped when
// the client accepts it, as Prometheus does), 405 for other methods
// there, and 404 everywhere else.
func (m *Metrics) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		m.serveText(w, r)
	}))
	mux.Handle("/", http.NotFoundHandler())
	return mux
}

// serveText renders the whole scrape before answering, so a failure is a
// 500 rather than a truncated body.
func (m *Metrics) serveText(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	var err error
	gz := strings.Contains(r.Header.Get("Accept-Encoding"), "gzip")
	if gz {
		zw := gzip.NewWriter(&buf)
		err = errors.Join(m.WriteText(zw), zw.Close())
	} else {
		err = m.WriteText(&buf)
	}
	if err != nil {
		http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	if gz {
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Vary", "Accept-Encoding")
	_, _ = w.Write(buf.Bytes())
}

// CheckListen returns an error unless listen is host:port with a loopback
// host (127.0.0.0/8, ::1 or localhost), or allowRemote is set. It is what
// Serve checks first; config validation may call it to report the error
// early with file and line.
func CheckListen(listen string, allowRemote bool) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("metrics_listen %q: %w (use host:port, e.g. \"127.0.0.1:9610\")", listen, err)
	}
	if allowRemote || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("metrics_listen %q is not a loopback address: refusing to expose metrics "+
		"beyond this host (use \"127.0.0.1:PORT\", or set metrics_allow_remote = true in [agent])", listen)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve listens on listen and serves Handler until ctx is done, then shuts
// the server down (waiting up to 5 s for scrapes in flight) and returns
// nil. It refuses a non-loopback address unless allowRemote, and returns
// an error if it cannot listen or the server fails.
func (m *Metrics) Serve(ctx context.Context, listen string, allowRemote bool, logger hclog.Logger) error {
	if err := CheckListen(listen, allowRemote); err != nil {
		return err
	}
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	logger = logger.Named("metrics")
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", listen)
	if err != nil {
		return fmt.Errorf("metrics: listen on %q: %w", listen, err)
	}
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	logger.Info("serving metrics", "addr", ln.Addr().String(), "path", "/metrics")

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics: serve on %q: %w", listen, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics: serve on %q: %w", listen, err)
	}
	logger.Debug("metrics server stopped")
	return nil
}

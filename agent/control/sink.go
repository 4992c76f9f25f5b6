package control

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
)

// sinkBuffer is how many log records may wait for a slow client. The
// sink never blocks the daemon: beyond that, records are dropped for this
// client (the journal keeps them all) and the client is told how many.
const sinkBuffer = 512

// sink is an hclog.SinkAdapter that streams one request's log records to
// its client. Accept runs under the logger's lock on any goroutine; one
// goroutine, owned by the sink, writes to the connection.
type sink struct {
	level   hclog.Level
	ch      chan Message
	done    chan struct{}
	dropped atomic.Int64
	out     *lineWriter
}

func newSink(out *lineWriter, level hclog.Level) *sink {
	s := &sink{level: level, ch: make(chan Message, sinkBuffer), done: make(chan struct{}), out: out}
	go func() {
		defer close(s.done)
		for m := range s.ch {
			out.send(m)
		}
	}()
	return s
}

// Accept implements hclog.SinkAdapter. It is never called after the sink
// is deregistered, so it never sends on the closed channel.
func (s *sink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	if level < s.level || level == hclog.Off {
		return
	}
	m := Message{Type: TypeLog, Time: time.Now().UTC(), Level: levelName(level), Logger: name, Msg: msg}
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			m.Fields = append(m.Fields, Field{K: hclog.MissingKey, V: value(args[i])})
			break
		}
		m.Fields = append(m.Fields, Field{K: fmt.Sprint(args[i]), V: value(args[i+1])})
	}
	select {
	case s.ch <- m:
	default:
		s.dropped.Add(1)
	}
}

// close flushes the records still queued; call it after deregistering.
func (s *sink) close() {
	close(s.ch)
	<-s.done
	if n := s.dropped.Load(); n > 0 {
		s.out.send(Message{Type: TypeLog, Time: time.Now().UTC(), Level: "warn",
			Msg: "log lines dropped for this client; the journal has them all", Fields: []Field{{K: "dropped", V: strconv.FormatInt(n, 10)}}})
	}
}

func levelName(l hclog.Level) string {
	switch l {
	case hclog.Trace:
		return "trace"
	case hclog.Debug:
		return "debug"
	case hclog.Warn:
		return "warn"
	case hclog.Error:
		return "error"
	}
	return "info"
}

// value renders a structured value: errors and Stringers as fmt does,
// hclog.Format as the format it is.
func value(v interface{}) string {
	if f, ok := v.(hclog.Format); ok && len(f) > 0 {
		return fmt.Sprintf(fmt.Sprint(f[0]), f[1:]...)
	}
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

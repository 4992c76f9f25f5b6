package acme

import (
	"fmt"
	"strings"
	"sync"

	legolog "github.com/go-acme/lego/v4/log"
	"github.com/hashicorp/go-hclog"
)

var initOnce sync.Once

// Init routes lego's package-global logger into logger, named "acme".
// lego prefixes its messages with "[INFO] " or "[WARN] "; those become
// Info and Warn, anything else Info. lego's Fatal* (which it does not
// call in library paths) log at Error and panic rather than exiting the
// process. Call once from cmd; later calls do nothing.
func Init(logger hclog.Logger) {
	initOnce.Do(func() {
		legolog.Logger = &legoLogger{log: logger.Named("acme")}
	})
}

// legoLogger adapts hclog to lego's StdLogger.
type legoLogger struct{ log hclog.Logger }

func (l *legoLogger) emit(msg string) {
	msg = strings.TrimRight(msg, "\n")
	switch {
	case strings.HasPrefix(msg, "[WARN] "):
		l.log.Warn(strings.TrimPrefix(msg, "[WARN] "))
	case strings.HasPrefix(msg, "[INFO] "):
		l.log.Info(strings.TrimPrefix(msg, "[INFO] "))
	default:
		l.log.Info(msg)
	}
}

func (l *legoLogger) Print(args ...any)                 { l.emit(fmt.Sprint(args...)) }
func (l *legoLogger) Println(args ...any)               { l.emit(fmt.Sprintln(args...)) }
func (l *legoLogger) Printf(format string, args ...any) { l.emit(fmt.Sprintf(format, args...)) }

func (l *legoLogger) Fatal(args ...any) {
	msg := fmt.Sprint(args...)
	l.log.Error(msg)
	panic(msg)
}

func (l *legoLogger) Fatalln(args ...any) {
	msg := fmt.Sprintln(args...)
	l.log.Error(msg)
	panic(msg)
}

func (l *legoLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.log.Error(msg)
	panic(msg)
}

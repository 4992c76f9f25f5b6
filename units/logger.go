package units

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/journal"
	"github.com/hashicorp/go-hclog"
)

// LoggerOptions configure NewLogger.
type LoggerOptions struct {
	// Level is the minimum level logged; hclog.NoLevel means Info.
	Level hclog.Level
	// Format is "auto" (or ""), "text" or "json". auto logs natively to
	// journald when stderr is connected to the journal and as text
	// otherwise.
	Format string
	// Output receives text and JSON logs; nil means os.Stderr.
	Output io.Writer
	// Name is the root logger's name; it becomes CERTAGENT_COMPONENT in
	// the journal (sub-loggers append ".sub" as hclog does). Usually empty.
	Name string
}

// SyslogIdentifier is the SYSLOG_IDENTIFIER of every journal entry, so
// that `journalctl -t certagent` works as well as `-u certagent`.
const SyslogIdentifier = "certagent"

// sendFunc is journal.Send; tests replace it.
type sendFunc func(message string, priority journal.Priority, vars map[string]string) error

// NewLogger returns certagent's root logger.
//
// With Format "auto" and stderr connected to the journal (JOURNAL_STREAM
// names stderr's device and inode, as systemd sets it for
// StandardError=journal), entries go to journald natively, with PRIORITY
// mapped from the hclog level and every structured key as a field:
// "cert" → CERTAGENT_CERT, "unit" → CERTAGENT_UNIT, "error" →
// CERTAGENT_ERROR, and so on (see FieldName). The logger's name goes to
// CERTAGENT_COMPONENT; SYSLOG_IDENTIFIER is always "certagent". MESSAGE
// repeats the name and the key=value pairs so plain `journalctl` output
// stays readable.
//
// Otherwise it logs hclog text (or JSON) to Output.
//
// Either way the logger is an InterceptLogger, so that the control socket
// can tee one request's records to its client (agent/control).
func NewLogger(opts LoggerOptions) hclog.InterceptLogger {
	return newLogger(opts, os.Getenv("JOURNAL_STREAM"), os.Stderr, journal.Send)
}

func newLogger(opts LoggerOptions, journalStream string, stderr *os.File, send sendFunc) hclog.InterceptLogger {
	if opts.Level == hclog.NoLevel {
		opts.Level = hclog.Info
	}
	out := opts.Output
	if out == nil {
		out = stderr
	}
	hopts := &hclog.LoggerOptions{
		Name:       opts.Name,
		Level:      opts.Level,
		Output:     out,
		JSONFormat: opts.Format == "json",
	}
	if (opts.Format != "" && opts.Format != "auto") || !isJournalStream(journalStream, stderr) {
		return hclog.NewInterceptLogger(hopts)
	}

	// Journal mode: the intercept logger keeps hclog's Named/With/level
	// semantics; its own text output is discarded and the sink writes
	// to journald. If journald refuses an entry, the sink falls back to
	// a text line on stderr, which systemd forwards to the journal too.
	hopts.Output = io.Discard
	root := hclog.NewInterceptLogger(hopts)
	fallback := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: out})
	root.RegisterSink(&journalSink{level: root, send: send, fallback: fallback})
	return root
}

// isJournalStream reports whether JOURNAL_STREAM ("DEVICE:INODE") names f.
func isJournalStream(env string, f *os.File) bool {
	devS, inoS, ok := strings.Cut(env, ":")
	if !ok || f == nil {
		return false
	}
	dev, err1 := strconv.ParseUint(devS, 10, 64)
	ino, err2 := strconv.ParseUint(inoS, 10, 64)
	if err1 != nil || err2 != nil {
		return false
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return uint64(st.Dev) == dev && st.Ino == ino
}

// journalSink is an hclog.SinkAdapter that sends each entry to journald.
type journalSink struct {
	// level is the root logger, whose (shared) level filters entries:
	// intercept loggers hand sinks every entry regardless of level.
	level    interface{ GetLevel() hclog.Level }
	send     sendFunc
	fallback hclog.Logger
}

// Accept implements hclog.SinkAdapter.
func (s *journalSink) Accept(name string, level hclog.Level, msg string, args ...interface{}) {
	if level < s.level.GetLevel() || level == hclog.Off {
		return
	}
	vars := map[string]string{"SYSLOG_IDENTIFIER": SyslogIdentifier}
	if name != "" {
		vars["CERTAGENT_COMPONENT"] = name
	}
	var b strings.Builder
	if name != "" {
		b.WriteString(name)
		b.WriteString(": ")
	}
	b.WriteString(msg)
	if len(args)%2 == 1 {
		last := args[len(args)-1]
		args = append(args[:len(args)-1:len(args)-1], hclog.MissingKey, last)
	}
	for i := 0; i+1 < len(args); i += 2 {
		key := fmt.Sprint(args[i])
		val := formatValue(args[i+1])
		vars[FieldName(key)] = val
		b.WriteString(" ")
		b.WriteString(key)
		b.WriteString("=")
		// A multi-line value (a list of config problems) would show as a
		// literal \n in MESSAGE; its field keeps the lines.
		val = strings.ReplaceAll(strings.TrimRight(val, "\n"), "\n", "; ")
		if strings.ContainsAny(val, " \t\"") || val == "" {
			val = strconv.Quote(val)
		}
		b.WriteString(val)
	}
	if err := s.send(b.String(), priority(level), vars); err != nil {
		s.fallback.Log(level, msg, append(args, "journal_error", err.Error())...)
	}
}

// priority maps hclog levels to syslog priorities.
func priority(l hclog.Level) journal.Priority {
	switch l {
	case hclog.Error:
		return journal.PriErr
	case hclog.Warn:
		return journal.PriWarning
	case hclog.Info:
		return journal.PriInfo
	default: // Trace, Debug
		return journal.PriDebug
	}
}

// formatValue renders a structured value the way hclog's text format would.
func formatValue(v interface{}) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case error:
		return x.Error()
	case hclog.Format:
		if len(x) == 0 {
			return ""
		}
		return fmt.Sprintf(fmt.Sprint(x[0]), x[1:]...)
	case hclog.Hex:
		return "0x" + strconv.FormatUint(uint64(x), 16)
	case hclog.Octal:
		return "0" + strconv.FormatUint(uint64(x), 8)
	case hclog.Binary:
		return "0b" + strconv.FormatUint(uint64(x), 2)
	case hclog.Quote:
		return strconv.Quote(string(x))
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(v)
	}
}

// FieldName maps a structured log key to its journal field:
// CERTAGENT_ followed by the key in upper snake case ("cert" →
// CERTAGENT_CERT, "next_renewal" → CERTAGENT_NEXT_RENEWAL, "retryAfter" →
// CERTAGENT_RETRY_AFTER). Characters journald does not allow become "_";
// the result is cut to journald's 64-character limit.
func FieldName(key string) string {
	var b strings.Builder
	b.WriteString("CERTAGENT_")
	prevLower := false
	for _, r := range key {
		switch {
		case r >= 'A' && r <= 'Z':
			if prevLower {
				b.WriteByte('_')
			}
			b.WriteRune(r)
			prevLower = false
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			prevLower = true
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			prevLower = true
		default:
			b.WriteByte('_')
			prevLower = false
		}
	}
	s := b.String()
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

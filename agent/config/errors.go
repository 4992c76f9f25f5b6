package config

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem in the configuration, located as precisely as the
// input allows. Its text is what `certagent check` prints.
type Error struct {
	File    string // config file; "" when unknown (e.g. a Config built in code)
	Line    int    // 1-based; 0 when unknown
	Section string // `agent`, `cert "web"`, `issuer "le"`, `watch "x"`; "" for top level
	Key     string // the offending key, "" when the problem is the whole section
	Msg     string // what is wrong, lowercase
	Fix     string // how to fix it; may be ""
}

// Error renders FILE:LINE: SECTION: key "KEY": MSG (FIX), leaving out the
// parts that are unknown.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Section != "" {
		b.WriteString(e.Section)
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "key %q: ", e.Key)
	}
	b.WriteString(e.Msg)
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

// Errors is every problem found in a configuration, sorted by file and
// line. Load, Parse and Validate return it as *Errors.
type Errors []*Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Sort orders the errors by file, then line, then section, key and text,
// so the output is stable whatever order the maps were walked in.
func (es Errors) Sort() {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Section != b.Section {
			return a.Section < b.Section
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Msg < b.Msg
	})
}

// valueError is a problem with a single value, split into what is wrong
// and how to fix it so the decoder can place it in an Error.
type valueError struct{ msg, fix string }

func (e *valueError) Error() string {
	if e.fix == "" {
		return e.msg
	}
	return e.msg + " (" + e.fix + ")"
}

func badValue(fix, format string, args ...any) *valueError {
	return &valueError{msg: fmt.Sprintf(format, args...), fix: fix}
}

// collector gathers errors for one pipeline run. It suppresses follow-on
// errors: once a key failed to decode, validation does not complain about
// the same key again (its value is just absent).
type collector struct {
	errs   Errors
	failed map[string]bool // keyID(section, key) of keys that failed to decode
}

func keyID(section, key string) string { return section + "\x00" + key }

// decodeErr records a decode error and remembers the key as failed.
func (c *collector) decodeErr(e *Error) {
	if c.failed == nil {
		c.failed = map[string]bool{}
	}
	c.failed[keyID(e.Section, e.Key)] = true
	c.errs = append(c.errs, e)
}

// add records a validation error unless its key already failed to decode.
func (c *collector) add(e *Error) {
	if e.Key != "" && c.failed[keyID(e.Section, e.Key)] {
		return
	}
	c.errs = append(c.errs, e)
}

// result returns nil or the sorted errors as *Errors.
func (c *collector) result() error {
	if len(c.errs) == 0 {
		return nil
	}
	es := c.errs
	es.Sort()
	return &es
}

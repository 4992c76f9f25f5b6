package config

import (
	"slices"

	"github.com/BurntSushi/toml"
)

// keyLines maps every key and table header of a TOML document to the line
// that defines it, keyed by toml.Key.String() (e.g. `certs.web.mode`).
//
// BurntSushi/toml v1.6 records key positions but does not export them, so
// this small scanner recovers them. It runs only on documents the TOML
// parser has accepted, so it need only understand valid TOML; on anything
// else it must merely terminate without panicking. Keys inside inline
// tables are not recorded: lookups fall back to the enclosing key.
func keyLines(data []byte) map[string]int {
	s := &lineScanner{src: data, line: 1, out: map[string]int{}}
	if len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF {
		s.pos = 3 // UTF-8 byte order mark
	}
	s.run()
	return s.out
}

type lineScanner struct {
	src  []byte
	pos  int
	line int
	out  map[string]int
	// table is the current table header's path and tableKey its string.
	table    []string
	tableKey string
	full     []string // scratch: the current key line's whole path
}

func (s *lineScanner) peek(off int) byte {
	if s.pos+off < len(s.src) {
		return s.src[s.pos+off]
	}
	return 0
}

func (s *lineScanner) next() byte {
	c := s.src[s.pos]
	s.pos++
	if c == '\n' {
		s.line++
	}
	return c
}

// record records every prefix of path: table, the key of table's last
// key-value line before it (s.table, s.tableKey) are known already, so
// only the parts after them are turned into strings. toml.Key.String
// quotes each part on its own and joins them with dots, which is what
// this builds part by part.
func (s *lineScanner) record(path []string, line int) {
	k, from := "", 0
	if n := len(s.table); n > 0 && n <= len(path) && slices.Equal(path[:n], s.table) {
		k, from = s.tableKey, n
	}
	for i := from; i < len(path); i++ {
		part := toml.Key{path[i]}.String()
		if i == 0 {
			k = part
		} else {
			k = k + "." + part
		}
		if _, ok := s.out[k]; !ok {
			s.out[k] = line
		}
	}
}

func (s *lineScanner) run() {
	var table []string
	for s.pos < len(s.src) {
		c := s.peek(0)
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			s.next()
		case c == '#':
			s.skipComment()
		case c == '[':
			line := s.line
			s.next()
			if s.peek(0) == '[' {
				s.next()
			}
			table = s.keyPath(']')
			s.table = nil
			s.record(table, line)
			s.table, s.tableKey = table, toml.Key(table).String()
			s.skipLine()
		default:
			line := s.line
			start := s.pos
			key := s.keyPath('=')
			// record keeps strings built from the path, not the path.
			s.full = append(append(s.full[:0], table...), key...)
			s.record(s.full, line)
			if s.pos < len(s.src) && s.peek(0) == '=' {
				s.next()
			}
			s.skipValue()
			if s.pos == start { // cannot happen on valid TOML; never loop
				s.next()
			}
		}
	}
}

// keyPath reads a dotted key up to (not including) stop or end of line.
func (s *lineScanner) keyPath(stop byte) []string {
	var parts []string
	var cur []byte
	have := false
	for s.pos < len(s.src) {
		c := s.peek(0)
		switch {
		case c == stop || c == '\n':
			if have {
				parts = append(parts, string(cur))
			}
			return parts
		case c == '"' || c == '\'':
			cur = append(cur, s.quoted(true)...)
			have = true
		case c == '.':
			s.next()
			parts = append(parts, string(cur))
			cur, have = nil, false
		case c == ' ' || c == '\t':
			s.next()
		default:
			cur = append(cur, s.next())
			have = true
		}
	}
	if have {
		parts = append(parts, string(cur))
	}
	return parts
}

// quoted reads a single-line basic or literal string and returns its
// content, or nothing unless keep (a value is only skipped); escapes in
// basic strings are decoded only for the common cases, which is enough
// to match key names.
func (s *lineScanner) quoted(keep bool) []byte {
	q := s.next()
	var out []byte
	for s.pos < len(s.src) && s.peek(0) != '\n' {
		c := s.next()
		switch {
		case c == q:
			return out
		case !keep:
			if c == '\\' && q == '"' && s.pos < len(s.src) {
				s.next()
			}
		case c == '\\' && q == '"' && s.pos < len(s.src):
			e := s.next()
			switch e {
			case 'n':
				out = append(out, '\n')
			case 't':
				out = append(out, '\t')
			default:
				out = append(out, e)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// skipValue skips a value, including multi-line strings and arrays or
// inline tables that span lines, and the rest of its line.
func (s *lineScanner) skipValue() {
	depth := 0
	for s.pos < len(s.src) {
		c := s.peek(0)
		switch {
		case c == '\n' && depth <= 0:
			s.next()
			return
		case c == '#':
			s.skipComment()
		case c == '"' || c == '\'':
			if s.peek(1) == c && s.peek(2) == c {
				s.skipMultiline(c)
			} else {
				s.quoted(false)
			}
		case c == '[' || c == '{':
			depth++
			s.next()
		case c == ']' || c == '}':
			depth--
			s.next()
		default:
			s.next()
		}
	}
}

func (s *lineScanner) skipMultiline(q byte) {
	s.pos += 3
	for s.pos < len(s.src) {
		c := s.next()
		if c == '\\' && q == '"' && s.pos < len(s.src) {
			s.next()
			continue
		}
		if c == q && s.peek(0) == q && s.peek(1) == q {
			s.pos += 2
			// A closing delimiter may be followed by up to two more quotes
			// that belong to the content.
			for s.peek(0) == q {
				s.pos++
			}
			return
		}
	}
}

func (s *lineScanner) skipComment() {
	for s.pos < len(s.src) && s.peek(0) != '\n' {
		s.next()
	}
}

func (s *lineScanner) skipLine() {
	for s.pos < len(s.src) {
		if s.next() == '\n' {
			return
		}
	}
}

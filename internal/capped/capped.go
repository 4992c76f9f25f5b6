// Package capped is a writer that keeps only the first bytes written to
// it: for the output of a program certagent runs (hooks, notify
// commands), which it logs in part, so that a program printing without
// end costs no more memory than the part that is logged.
package capped

import "bytes"

// Buffer keeps the first max bytes written and counts the rest as cut.
// Its zero value keeps nothing; make one with New. Like bytes.Buffer it
// is not safe for concurrent use (exec.Cmd writes a shared Stdout and
// Stderr from one goroutine at a time).
type Buffer struct {
	max int
	b   bytes.Buffer
	cut bool
}

// New returns a Buffer that keeps max bytes.
func New(max int) *Buffer { return &Buffer{max: max} }

// Write keeps what fits and drops the rest; it never fails, so the
// program writing is never stopped by it.
func (c *Buffer) Write(p []byte) (int, error) {
	room := c.max - c.b.Len()
	switch {
	case len(p) <= room:
		c.b.Write(p)
	case room > 0:
		c.b.Write(p[:room])
		c.cut = true
	default:
		c.cut = len(p) > 0 || c.cut
	}
	return len(p), nil
}

// String returns the bytes kept, followed by "…" when some were cut.
func (c *Buffer) String() string {
	if c.cut {
		return c.b.String() + "…"
	}
	return c.b.String()
}

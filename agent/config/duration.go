package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in Go syntax ("90m", "1h30m") or in
// whole days ("30d"); days may be combined with Go syntax ("1d12h").
type Duration struct {
	time.Duration
	Set bool // false when the key was absent
}

// ParseDuration parses Go duration syntax extended with a "d" (24h) unit.
// Negative durations are rejected: every duration in the config is a span.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration (use e.g. \"30d\", \"12h\" or \"90m\")")
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("negative duration %q (durations must be positive)", s)
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, fmt.Errorf("bad duration %q (use e.g. \"30d\", \"12h\" or \"90m\")", s)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q (use e.g. \"30d\", \"12h\" or \"90m\"; units: d h m s)", s)
	}
	return days + d, nil
}

// UnmarshalText implements encoding.TextUnmarshaler for TOML strings.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration, d.Set = v, true
	return nil
}

// MarshalText renders the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText parses an octal mode string such as "0600" or "600".
func (m *FileMode) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || s == "" || v > 0o7777 {
		return fmt.Errorf("bad mode %q (use an octal string such as \"0600\")", s)
	}
	m.FileMode, m.Set = osMode(v), true
	return nil
}

// MarshalText renders the mode as a 4-digit octal string.
func (m FileMode) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("%04o", uint32(m.FileMode.Perm()))), nil
}

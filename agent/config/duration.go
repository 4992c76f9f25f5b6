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

// maxDays bounds the day count so the sum cannot overflow time.Duration
// (about 292 years); nothing in a cert config needs more than a century.
const maxDays = 36500

const durationFix = `use e.g. "30d", "12h" or "90m"; units: d h m s`

// ParseDuration parses Go duration syntax extended with a "d" (24h) unit.
// Negative durations are rejected: every duration in the config is a span.
func ParseDuration(s string) (time.Duration, error) {
	d, err := parseDuration(s)
	if err != nil {
		return 0, err
	}
	return d, nil
}

func parseDuration(orig string) (time.Duration, *valueError) {
	s := strings.TrimSpace(orig)
	if s == "" {
		return 0, badValue(durationFix, "empty duration")
	}
	if strings.HasPrefix(s, "-") {
		return 0, badValue("durations are spans and must be positive", "negative duration %s", quoteShort(orig))
	}
	bad := badValue(durationFix, "bad duration %s", quoteShort(orig))
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil {
			return 0, bad
		}
		if n > maxDays {
			return 0, badValue("use at most 36500d (100 years)", "duration %s is too long", quoteShort(orig))
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
		if s[0] == '+' || s[0] == '-' {
			return 0, bad
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, bad
	}
	if d > maxDays*24*time.Hour-days {
		return 0, badValue("use at most 36500d (100 years)", "duration %s is too long", quoteShort(orig))
	}
	return days + d, nil
}

// UnmarshalText implements encoding.TextUnmarshaler for TOML strings.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration, d.Set = v, true
	return nil
}

// MarshalText renders the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// UnmarshalText parses an octal mode string such as "0600" or "600".
// Setuid, setgid and sticky bits are refused: certagent writes plain files.
func (m *FileMode) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	digits := strings.TrimPrefix(s, "0o")
	v, err := strconv.ParseUint(digits, 8, 32)
	if err != nil || digits == "" || digits[0] == '+' {
		return badValue(`use an octal string such as "0600"`, "bad mode %s", quoteShort(string(b)))
	}
	if v > 0o777 {
		return badValue(`setuid, setgid and sticky bits are not allowed; use e.g. "0600"`,
			"mode %s has bits beyond 0777", quoteShort(string(b)))
	}
	m.FileMode, m.Set = osMode(v), true
	return nil
}

// MarshalText renders the mode as a 4-digit octal string.
func (m FileMode) MarshalText() ([]byte, error) {
	return []byte(fmt.Sprintf("%04o", uint32(m.FileMode.Perm()))), nil
}

package config

import (
	"bytes"
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// MaxFileSize caps each config file. A certagent config is a few KiB; a
// bigger file is a mistake (or an attack on the root daemon's memory).
const MaxFileSize = 1 << 20

// sources records where keys were defined, for error messages.
type sources struct {
	pos      map[string]srcPos // toml.Key.String() → where it was defined
	agentSet map[string]bool   // [agent] keys set by this file (fragments)
	failed   map[string]bool   // keyID of keys that failed to decode
	broken   bool              // a file could not be parsed at all
}

type srcPos struct {
	file string
	line int
}

// Decode parses one TOML file strictly into a Config fragment: a syntax
// error, an unknown key or a value of the wrong type is an error. It
// reports every such problem in the file (a syntax error ends the file's
// parse, so only one of those). Defaults and validation are not applied.
// On error it returns the partial Config (keys that decoded) and *Errors.
func Decode(name string, data []byte) (*Config, error) {
	col := &collector{}
	c := decodeFile(name, data, col)
	return c, col.result()
}

func decodeFile(name string, data []byte, col *collector) *Config {
	c := &Config{Files: []string{name}, src: &sources{
		pos: map[string]srcPos{}, agentSet: map[string]bool{}, failed: map[string]bool{},
	}}
	if len(data) > MaxFileSize {
		col.decodeErr(&Error{File: name, Msg: fmt.Sprintf("file is %d bytes, more than the 1 MiB limit", len(data)),
			Fix: "a certagent config is a few KiB; check that this is the right file"})
		c.src.broken = true
		return c
	}
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		col.decodeErr(syntaxError(name, data, err))
		c.src.broken = true
		return c
	}
	lines := keyLines(data)
	c.src.pos = make(map[string]srcPos, len(lines))
	for k, l := range lines {
		c.src.pos[k] = srcPos{name, l}
	}
	d := &decoder{file: name, cfg: c, col: col}
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		switch k {
		case "agent":
			if m, ok := d.table(v, []string{k}, "agent", ""); ok {
				d.fields(reflect.ValueOf(&c.Agent).Elem(), m, []string{k}, "agent", c.src.agentSet)
			}
		case "issuers":
			c.Issuers = decodeNamed[Issuer](d, v, k, "issuer")
		case "certs":
			c.Certs = decodeNamed[Cert](d, v, k, "cert")
		case "watch":
			c.Watch = decodeNamed[Watch](d, v, k, "watch")
		case "notify":
			c.Notify = decodeNamed[Notify](d, v, k, "notify target")
		default:
			d.err([]string{k}, "", k, "unknown top-level key or table",
				suggest(k, []string{"agent", "issuers", "certs", "watch", "notify"},
					"the tables are [agent], [issuers.NAME], [certs.NAME], [watch.NAME] and [notify.NAME]"))
		}
	}
	for k := range col.failed {
		c.src.failed[k] = true
	}
	return c
}

// syntaxError turns a TOML parse error into an Error with its line.
func syntaxError(name string, data []byte, err error) *Error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := strings.TrimSuffix(strings.TrimPrefix(pe.Message, "toml: "), ".")
		if len(msg) > 1 && msg[0] >= 'A' && msg[0] <= 'Z' && msg[1] >= 'a' && msg[1] <= 'z' {
			msg = strings.ToLower(msg[:1]) + msg[1:]
		}
		line := pe.Position.Line
		// The parser counts a newline that ends a bad line as part of the
		// next line; the byte offset is exact, so count from it.
		if st := pe.Position.Start; st > 0 && st <= len(data) {
			line = bytes.Count(data[:st], []byte("\n")) + 1
		}
		fix := "fix the TOML syntax on this line; see https://toml.io"
		if strings.Contains(msg, "leading zero") {
			fix = `write modes as quoted octal strings, e.g. mode = "0600"`
		}
		return &Error{File: name, Line: line, Msg: "toml syntax error: " + msg, Fix: fix}
	}
	return &Error{File: name, Msg: "cannot parse: " + err.Error(), Fix: "fix the TOML syntax; see https://toml.io"}
}

type decoder struct {
	file string
	cfg  *Config
	col  *collector
}

func (d *decoder) err(path []string, section, key, msg, fix string) {
	p := d.cfg.where(path...)
	d.col.decodeErr(&Error{File: d.file, Line: p.line, Section: section, Key: key, Msg: msg, Fix: fix})
}

// table asserts that v is a TOML table.
func (d *decoder) table(v any, path []string, section, key string) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.err(path, section, key, "expected a table, got "+describe(v),
			fmt.Sprintf("write it as a [%s] table", toml.Key(path).String()))
	}
	return m, ok
}

// decodeNamed decodes a table of named tables such as [certs.NAME].
func decodeNamed[T any](d *decoder, v any, top, kind string) map[string]*T {
	m, ok := v.(map[string]any)
	if !ok {
		fix := fmt.Sprintf("write one [%s.NAME] table per %s", top, kind)
		if _, aot := v.([]map[string]any); aot {
			fix = fmt.Sprintf("write [%s.NAME] headers, not [[%s]]", top, top)
		}
		d.err([]string{top}, "", top, "expected a table of named tables, got "+describe(v), fix)
		return nil
	}
	out := make(map[string]*T, len(m))
	for _, name := range sortedKeys(m) {
		path := []string{top, name}
		section := fmt.Sprintf("%s %q", kind, name)
		tm, ok := m[name].(map[string]any)
		if !ok {
			d.err(path, "", top+"."+name, "expected a table, got "+describe(m[name]),
				fmt.Sprintf("write it as a [%s] table with the %s's keys", toml.Key(path).String(), kind))
			continue
		}
		t := new(T)
		d.fields(reflect.ValueOf(t).Elem(), tm, path, section, nil)
		out[name] = t
	}
	return out
}

// fields decodes the keys of one table into the struct dst, reporting
// every unknown key and every value of the wrong type.
func (d *decoder) fields(dst reflect.Value, m map[string]any, path []string, section string, set map[string]bool) {
	idx := tagIndex(dst.Type())
	// The key's path is built only for what needs it (an error, a list
	// of tables): at 10,000 certs it was 70,000 allocations per load.
	keyPath := func(k string) []string { return append(append(make([]string, 0, len(path)+1), path...), k) }
	for _, k := range sortedKeys(m) {
		fi, ok := idx[k]
		if !ok {
			d.err(keyPath(k), section, k, "unknown key", suggest(k, sortedKeys(idx), "remove it; docs/configuration.md lists the valid keys"))
			continue
		}
		if f := dst.Field(fi); f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct {
			d.tableList(f, m[k], keyPath(k), section, k)
			if set != nil {
				set[k] = true
			}
			continue
		}
		if ve := setValue(dst.Field(fi), k, m[k]); ve != nil {
			d.err(keyPath(k), section, k, ve.msg, ve.fix)
			continue
		}
		if set != nil {
			set[k] = true
		}
	}
}

// tableList decodes an array of tables ([[certs.web.templates]]) into
// the slice dst. Each element's errors name it as its own section
// (`cert "web" template 2`), so they do not hide the cert's own keys.
func (d *decoder) tableList(dst reflect.Value, v any, path []string, section, key string) {
	var elems []any
	switch x := v.(type) {
	case []map[string]any:
		for _, m := range x {
			elems = append(elems, m)
		}
	case []any:
		elems = x
	default:
		d.err(path, section, key, "expected an array of tables, got "+describe(v),
			fmt.Sprintf("write one [[%s]] table per entry", toml.Key(path).String()))
		return
	}
	out := reflect.MakeSlice(dst.Type(), 0, len(elems))
	for i, e := range elems {
		m, ok := e.(map[string]any)
		if !ok {
			d.err(path, section, key, fmt.Sprintf("element %d: expected a table, got %s", i+1, describe(e)),
				fmt.Sprintf("write one [[%s]] table per entry", toml.Key(path).String()))
			continue
		}
		elem := reflect.New(dst.Type().Elem()).Elem()
		d.fields(elem, m, path, fmt.Sprintf("%s %s %d", section, strings.TrimSuffix(key, "s"), i+1), nil)
		out = reflect.Append(out, elem)
	}
	dst.Set(out)
}

var tagCache sync.Map // reflect.Type → map[string]int

// tagIndex maps toml tag names to field indexes, skipping `toml:"-"`.
func tagIndex(t reflect.Type) map[string]int {
	if idx, ok := tagCache.Load(t); ok {
		return idx.(map[string]int)
	}
	idx := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := strings.Split(t.Field(i).Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" || !t.Field(i).IsExported() {
			continue
		}
		idx[tag] = i
	}
	tagCache.Store(t, idx)
	return idx
}

var (
	durationType = reflect.TypeOf(Duration{})
	modeType     = reflect.TypeOf(FileMode{})
	textType     = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

// setValue converts one raw TOML value into a struct field. The decoder
// does this itself, rather than toml's reflection, so that it can report
// every bad value with a message that says how to write it.
func setValue(f reflect.Value, key string, v any) *valueError {
	switch {
	case f.Type() == issuerNamesType:
		return setIssuerNames(f, key, v)
	case f.Type() == modeType:
		s, ok := v.(string)
		if !ok {
			return badValue(fmt.Sprintf(`write the mode as a quoted octal string, e.g. %s = "0600"`, key),
				"expected a quoted octal mode, got %s", describe(v))
		}
		return unmarshalText(f, s)
	case f.Type() == durationType:
		s, ok := v.(string)
		if !ok {
			return badValue(fmt.Sprintf(`write a quoted duration, e.g. %s = "30d" or "12h"`, key),
				"expected a duration string, got %s", describe(v))
		}
		return unmarshalText(f, s)
	case reflect.PointerTo(f.Type()).Implements(textType):
		s, ok := v.(string)
		if !ok {
			return badValue("quote the value", "expected a string, got %s", describe(v))
		}
		return unmarshalText(f, s)
	}
	switch f.Kind() {
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return badValue(fmt.Sprintf(`quote the value, e.g. %s = "…"`, key), "expected a string, got %s", describe(v))
		}
		f.SetString(s)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return badValue(fmt.Sprintf("write %s = true or %s = false, without quotes", key, key),
				"expected true or false, got %s", describe(v))
		}
		f.SetBool(b)
	case reflect.Pointer:
		if f.Type().Elem().Kind() != reflect.Bool {
			return badValue("this is a bug in certagent; please report it", "unsupported field type %s", f.Type())
		}
		b, ok := v.(bool)
		if !ok {
			return badValue(fmt.Sprintf("write %s = true or %s = false, without quotes", key, key),
				"expected true or false, got %s", describe(v))
		}
		f.Set(reflect.ValueOf(&b))
	case reflect.Int:
		n, ok := v.(int64)
		if !ok {
			return badValue(fmt.Sprintf("write a whole number without quotes, e.g. %s = 4", key),
				"expected an integer, got %s", describe(v))
		}
		if n < math.MinInt32 || n > math.MaxInt32 {
			return badValue("use a smaller number", "integer %d is out of range", n)
		}
		f.SetInt(n)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return badValue("this is a bug in certagent; please report it", "unsupported field type %s", f.Type())
		}
		return setStrings(f, key, v)
	default:
		return badValue("this is a bug in certagent; please report it", "unsupported field type %s", f.Type())
	}
	return nil
}

func setStrings(f reflect.Value, key string, v any) *valueError {
	arr, ok := v.([]any)
	if !ok {
		ex := fmt.Sprintf(`write a list of strings, e.g. %s = ["…"]`, key)
		if s, isStr := v.(string); isStr {
			ex = fmt.Sprintf("write a list: %s = [%q]", key, s)
		}
		return badValue(ex, "expected an array of strings, got %s", describe(v))
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return badValue("quote every element", "element %d: expected a string, got %s", i+1, describe(e))
		}
		out = append(out, s)
	}
	f.Set(reflect.ValueOf(out))
	return nil
}

func unmarshalText(f reflect.Value, s string) *valueError {
	err := f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	if err == nil {
		return nil
	}
	var ve *valueError
	if errors.As(err, &ve) {
		return ve
	}
	return &valueError{msg: err.Error()}
}

// describe names a raw TOML value's type (and the value, when short) for
// error messages.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		return "string " + quoteShort(x)
	case int64:
		return fmt.Sprintf("integer %d", x)
	case float64:
		return fmt.Sprintf("float %v", x)
	case bool:
		return fmt.Sprintf("boolean %v", x)
	case []any:
		return "an array"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date/time"
	}
	return fmt.Sprintf("a value of type %T", v)
}

func quoteShort(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q…", s[:40])
	}
	return fmt.Sprintf("%q", s)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"syscall"
)

// Load reads the config file at path and every *.toml drop-in in the
// conf.d directory next to it (in name order), merges them, applies the
// defaults and validates the result. It reports every problem in every
// file as *Errors.
//
// Drop-ins may add issuers, certs and watch entries; naming one that an
// earlier file already defined is an error. [agent] keys may be set in any
// file; for each key, the last file that sets it wins.
func Load(path string, opts Options) (*Config, error) {
	col := &collector{}
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	var names []string
	var datas [][]byte
	for i, f := range files {
		data, ok := readConfigFile(f, i == 0, opts, col)
		if !ok {
			continue
		}
		names, datas = append(names, f), append(datas, data)
	}
	c := merge(decodeAll(names, datas, col), col)
	c.Files = files
	return finish(c, opts, col)
}

// configFiles lists the config file at path, then the *.toml drop-ins
// in the conf.d directory next to it in name order.
func configFiles(path string) ([]string, error) {
	drops, err := filepath.Glob(filepath.Join(filepath.Dir(path), "conf.d", "*.toml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(drops)
	return append([]string{path}, drops...), nil
}

// Parse decodes, defaults and validates a single in-memory file named
// name (used in messages), as Load does for a file without drop-ins.
func Parse(name string, data []byte, opts Options) (*Config, error) {
	col := &collector{}
	c := merge([]*Config{decodeFile(name, data, col)}, col)
	c.Files = []string{name}
	return finish(c, opts, col)
}

// finish runs Defaults and Validate unless a file could not be parsed at
// all: its certs and issuers are then unknown and validating the rest
// would only add misleading follow-on errors.
func finish(c *Config, opts Options, col *collector) (*Config, error) {
	if c.src.broken {
		return c, col.result()
	}
	c.src.failed = col.failed
	ApplyDefaults(c)
	if err := Validate(c, opts); err != nil {
		var es *Errors
		if errors.As(err, &es) {
			col.errs = append(col.errs, *es...)
		}
	}
	return c, col.result()
}

// readConfigFile reads one config file, refusing files larger than
// MaxFileSize and (unless SkipFileChecks) files others could modify.
func readConfigFile(path string, main bool, opts Options, col *collector) ([]byte, bool) {
	fail := func(msg, fix string) ([]byte, bool) {
		col.decodeErr(&Error{File: path, Msg: msg, Fix: fix})
		return nil, false
	}
	// O_NONBLOCK: a FIFO planted as a config file must be refused as "not
	// a regular file", not hang the open (and a daemon's reload) forever.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if os.IsNotExist(err) && main {
			return fail("config file does not exist", "create it, or pass --config FILE")
		}
		return fail(fmt.Sprintf("cannot read config file: %v", unwrapPathErr(err)), "make it readable by root")
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fail(fmt.Sprintf("cannot read config file: %v", unwrapPathErr(err)), "make it readable by root")
	}
	if !fi.Mode().IsRegular() {
		return fail("config file is not a regular file", "point --config at a regular file")
	}
	if !opts.SkipFileChecks {
		if ve := checkConfigFile(path, fi); ve != nil {
			return fail(ve.msg, ve.fix)
		}
		if ve := checkTrustedDirs(filepath.Dir(path)); ve != nil {
			return fail(ve.msg, ve.fix)
		}
	}
	// Sized from the Stat so the read does not grow its buffer (10,000
	// certs are 2 MB of drop-ins); a file that grows meanwhile is still
	// read whole up to the limit.
	buf := bytes.NewBuffer(make([]byte, 0, min(fi.Size(), MaxFileSize)+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(f, MaxFileSize+1))
	data := buf.Bytes()
	if err != nil {
		return fail(fmt.Sprintf("cannot read config file: %v", unwrapPathErr(err)), "make it readable by root")
	}
	if len(data) > MaxFileSize {
		return fail(fmt.Sprintf("file is larger than the 1 MiB limit (%d bytes)", fi.Size()),
			"a certagent config is a few KiB; check that this is the right file")
	}
	return data, true
}

// decodeAll decodes the files concurrently (10,000 certs take ten
// drop-ins), each with a collector of its own, and gathers their errors
// into col in file order.
func decodeAll(names []string, datas [][]byte, col *collector) []*Config {
	frags := make([]*Config, len(names))
	cols := make([]collector, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Go(func() { frags[i] = decodeFile(names[i], datas[i], &cols[i]) })
	}
	wg.Wait()
	for _, fc := range cols {
		col.errs = append(col.errs, fc.errs...)
		for k := range fc.failed {
			if col.failed == nil {
				col.failed = map[string]bool{}
			}
			col.failed[k] = true
		}
	}
	return frags
}

// merge combines decoded files in order into one Config.
func merge(frags []*Config, col *collector) *Config {
	n := 0
	for _, fr := range frags {
		n += len(fr.src.pos)
	}
	c := &Config{src: &sources{pos: make(map[string]srcPos, n), failed: map[string]bool{}}}
	for _, fr := range frags {
		if fr.src.broken {
			c.src.broken = true
		}
		mergeNamed(c, fr, "issuers", "issuer", &c.Issuers, fr.Issuers, col)
		mergeNamed(c, fr, "certs", "cert", &c.Certs, fr.Certs, col)
		mergeNamed(c, fr, "watch", "watch", &c.Watch, fr.Watch, col)
		mergeNamed(c, fr, "notify", "notify target", &c.Notify, fr.Notify, col)
		mergeAgent(c, fr)
	}
	return c
}

func mergeNamed[T any](c, fr *Config, top, kind string, dst *map[string]*T, src map[string]*T, col *collector) {
	added := map[string]bool{}
	defer func() { copyPositions(c, fr, added) }()
	for _, name := range sortedKeys(src) {
		if *dst == nil {
			*dst = map[string]*T{}
		}
		if _, dup := (*dst)[name]; dup {
			first := c.where(top, name)
			again := fr.where(top, name)
			col.decodeErr(&Error{File: again.file, Line: again.line, Section: fmt.Sprintf("%s %q", kind, name),
				Msg: fmt.Sprintf("defined again; first defined in %s", posString(first)),
				Fix: fmt.Sprintf("drop-ins may add %ss but not redefine them; rename or remove one", kind)})
			continue
		}
		(*dst)[name] = src[name]
		added[tomlKey(top, name)] = true
	}
}

// mergeAgent copies the [agent] keys a file set; later files win.
func mergeAgent(c, fr *Config) {
	if _, ok := c.src.pos["agent"]; !ok {
		if p, ok := fr.src.pos["agent"]; ok {
			c.src.pos["agent"] = p
		}
	}
	if len(fr.src.agentSet) == 0 {
		return
	}
	dst := reflect.ValueOf(&c.Agent).Elem()
	src := reflect.ValueOf(&fr.Agent).Elem()
	idx := tagIndex(dst.Type())
	for key := range fr.src.agentSet {
		dst.Field(idx[key]).Set(src.Field(idx[key]))
		k := tomlKey("agent", key)
		c.src.pos[k] = fr.src.pos[k]
	}
}

// copyPositions copies the positions of the tables named in prefixes
// and of all their keys, in one pass over fr's positions: a pass per
// table made loading 10,000 certs quadratic.
func copyPositions(c, fr *Config, prefixes map[string]bool) {
	if len(prefixes) == 0 {
		return
	}
	for k, p := range fr.src.pos {
		if prefixes[k] {
			c.src.pos[k] = p
			continue
		}
		for i := 0; i < len(k); i++ {
			if k[i] == '.' && prefixes[k[:i]] {
				c.src.pos[k] = p
				break
			}
		}
	}
	for k := range fr.src.failed {
		c.src.failed[k] = true
	}
}

func posString(p srcPos) string {
	if p.line > 0 {
		return p.file + ":" + strconv.Itoa(p.line)
	}
	return p.file
}

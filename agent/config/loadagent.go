package config

import "bytes"

// LoadAgent reads only the [agent] table of the configuration at path
// and its conf.d drop-ins, defaulted and validated as Load does it: what
// a control command (renew, status, revoke, reload) needs to find the
// running daemon's socket and state_dir. Every file gets Load's checks
// (regular, size, owner and mode, trusted directories); a file that
// cannot set an [agent] key (see mayNameAgent) is not decoded at all,
// and a file that might is decoded in full and strictly, so a file the
// daemon would reject is rejected here too. The certs, issuers, watch and
// notify entries are not validated: the daemon judges the requests
// against its own configuration. On any problem the caller should run
// Load, whose errors name every problem in every file.
func LoadAgent(path string, opts Options) (*Agent, error) {
	col := &collector{}
	files, err := configFiles(path)
	if err != nil {
		return nil, err
	}
	var frags []*Config
	for i, f := range files {
		data, ok := readConfigFile(f, i == 0, opts, col)
		if ok && (i == 0 || mayNameAgent(data)) {
			frags = append(frags, decodeFile(f, data, col))
		}
	}
	c := merge(frags, col)
	c.Files = files
	if err := col.result(); err != nil {
		return nil, err
	}
	ApplyDefaults(c)
	v := &validator{c: c, opts: opts, col: col}
	v.agent()
	if err := col.result(); err != nil {
		return nil, err
	}
	return &c.Agent, nil
}

// mayNameAgent reports whether a TOML document can set a key under the
// top-level key agent. Any way to write that key ([agent], agent.k = …,
// "agent", 'agent', an inline table) spells "agent", except a quoted key
// with \u or \U escapes, which the test also lets through. False
// positives only cost a full decode.
func mayNameAgent(data []byte) bool {
	return bytes.Contains(data, []byte("agent")) || bytes.Contains(data, []byte(`\u`)) || bytes.Contains(data, []byte(`\U`))
}

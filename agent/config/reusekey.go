package config

// reuseKey checks reuse_key against the keys it cannot work with.
func (v *validator) reuseKey(ct *Cert, at func(string, *valueError)) {
	if ct.ReuseKey && ct.RemoveKeyAfterStart {
		at("reuse_key", badValue("remove reuse_key or remove_key_after_start",
			"reuse_key keeps the key on disk for the next renewal, which remove_key_after_start deletes"))
	}
}

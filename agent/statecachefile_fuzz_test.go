package agent

import (
	"crypto/sha256"
	"reflect"
	"testing"
)

// FuzzDecodeCache: any inspect-cache file (here with a right checksum,
// so that the fuzzer reaches the entries) is rejected or decoded without
// a panic or a huge allocation, and what decodes encodes back to the
// same entries.
func FuzzDecodeCache(f *testing.F) {
	c := &inspectCache{entries: map[string]*cacheEntry{
		"a": {sig: [16]byte{1}, leaf: &leafSummary{serial: "0a1b", notBefore: 1, notAfter: 2}, from: 1, until: 2},
		"b": {leaf: &leafSummary{serial: "ff"}, issuedBy: "ca", issuedByKnown: true},
	}}
	valid := encodeCache(c, c.sortedNames())
	if got, err := decodeCache(valid); err != nil || !reflect.DeepEqual(got, c.entries) {
		f.Fatalf("the seed does not decode to its entries: %v", err)
	}
	f.Add(valid[:len(valid)-sha256.Size])
	f.Add([]byte(cacheMagic))
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		entries, err := decodeCache(append(body[:len(body):len(body)], sum[:]...))
		if err != nil {
			return
		}
		d := &inspectCache{entries: entries}
		again, err := decodeCache(encodeCache(d, d.sortedNames()))
		if err != nil || !reflect.DeepEqual(again, entries) {
			t.Fatalf("decoded %d entries, re-encoded: %v, equal %v", len(entries), err, reflect.DeepEqual(again, entries))
		}
	})
}

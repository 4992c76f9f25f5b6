package capped

import (
	"fmt"
	"testing"
)

func TestBuffer(t *testing.T) {
	for _, tc := range []struct {
		writes []string
		want   string
	}{
		{nil, ""},
		{[]string{"abc"}, "abc"},
		{[]string{"abcd"}, "abcd"},
		{[]string{"abcde"}, "abcd…"},
		{[]string{"ab", "cd", "ef"}, "abcd…"},
		{[]string{"abcd", ""}, "abcd"},
	} {
		b := New(4)
		for _, w := range tc.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Fatalf("Write(%q) = %d, %v; want all of it taken", w, n, err)
			}
		}
		if got := b.String(); got != tc.want {
			t.Errorf("%s: got %q, want %q", fmt.Sprint(tc.writes), got, tc.want)
		}
	}
}

package failpoint

import (
	"reflect"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in      string
		want    map[string]int
		wantErr bool
	}{
		{"", map[string]int{}, false},
		{"a", map[string]int{"a": 1}, false},
		{" a , b=3 ,", map[string]int{"a": 1, "b": 3}, false},
		{"a=0", nil, true},
		{"a=x", nil, true},
		{"=2", nil, true},
	}
	for _, c := range cases {
		got, err := parse(c.in)
		if (err != nil) != c.wantErr {
			t.Fatalf("parse(%q) error = %v, wantErr %v", c.in, err, c.wantErr)
		}
		if !c.wantErr && !reflect.DeepEqual(got, c.want) {
			t.Fatalf("parse(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

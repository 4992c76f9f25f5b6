package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSummarize(t *testing.T) {
	cases := []struct {
		in               []float64
		median, p50, p99 float64
		min, max         float64
	}{
		{[]float64{3, 1, 2}, 2, 2, 3, 1, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 2, 4, 1, 4},
		{[]float64{7}, 7, 7, 7, 7, 7},
	}
	for _, c := range cases {
		s := summarize(c.in)
		if s.median != c.median || s.p50 != c.p50 || s.p99 != c.p99 || s.min != c.min || s.max != c.max {
			t.Errorf("summarize(%v) = %+v", c.in, s)
		}
	}
	// p99 of 1..100 is 99 by nearest rank, not the maximum.
	var hundred []float64
	for i := 100; i >= 1; i-- {
		hundred = append(hundred, float64(i))
	}
	if s := summarize(hundred); s.p99 != 99 || s.p50 != 50 || s.median != 50.5 {
		t.Errorf("1..100: %+v", s)
	}
}

func TestCmdStats(t *testing.T) {
	var out bytes.Buffer
	if err := cmdStats([]string{"-scale", "1000"}, strings.NewReader("0.5\n\n0.25\n1\n"), &out); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "n=3 median=500 min=250 max=1000 p50=500 p99=1000\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := cmdStats(nil, strings.NewReader("x\n"), &out); err == nil {
		t.Error("a non-number was accepted")
	}
	if err := cmdStats(nil, strings.NewReader(""), &out); err == nil {
		t.Error("empty input was accepted")
	}
}

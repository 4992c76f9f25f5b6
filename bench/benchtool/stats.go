package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// summary describes a sample.
type summary struct {
	n                          int
	median, min, max, p50, p99 float64
}

// summarize computes the median (mean of the two middle values for an
// even n) and nearest-rank percentiles.
func summarize(xs []float64) summary {
	s := summary{n: len(xs)}
	if len(xs) == 0 {
		return s
	}
	v := append([]float64(nil), xs...)
	sort.Float64s(v)
	s.min, s.max = v[0], v[len(v)-1]
	if len(v)%2 == 1 {
		s.median = v[len(v)/2]
	} else {
		s.median = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	s.p50 = rank(v, 0.50)
	s.p99 = rank(v, 0.99)
	return s
}

// rank is the nearest-rank percentile of sorted v.
func rank(v []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(v)))) - 1
	if i < 0 {
		i = 0
	}
	return v[i]
}

// cmdStats reads one number per line and prints its summary, each value
// multiplied by -scale.
func cmdStats(args []string, in io.Reader, out io.Writer) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	scale := fs.Float64("scale", 1, "multiply every value by this")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var xs []float64
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		v, err := strconv.ParseFloat(line, 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", line)
		}
		xs = append(xs, v**scale)
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(xs) == 0 {
		return fmt.Errorf("no numbers on stdin")
	}
	s := summarize(xs)
	fmt.Fprintf(out, "n=%d median=%s min=%s max=%s p50=%s p99=%s\n", s.n, g(s.median), g(s.min), g(s.max), g(s.p50), g(s.p99))
	return nil
}

// g formats with 3 significant digits at least, no exponent.
func g(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}

package metrics

// A small implementation of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/): gauges
// and counters with labels, written with HELP and TYPE lines. It replaces
// prometheus/client_golang, whose registry, protobuf model and procfs
// reader were 2.3 MB of the stripped binary and, through package init and
// the binary pages around what init touches, about 1 MiB of every idle
// daemon's resident memory (see the commit that brought this file).

import (
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Metric types, as the TYPE line spells them.
const (
	typeGauge   = "gauge"
	typeCounter = "counter"
	typeSummary = "summary"
)

// family is one metric family: a name, its help and type, and a series
// per distinct tuple of label values. Its methods are safe for
// concurrent use.
type family struct {
	name, help, typ string
	labels          []string // label names, in the order values are given

	mu     sync.Mutex
	series map[string]*series // by seriesKey(values)
}

type series struct {
	values []string
	v      float64
}

func newFamily(typ, name, help string, labels ...string) *family {
	return &family{name: name, help: help, typ: typ, labels: labels, series: map[string]*series{}}
}

// seriesKey joins label values with a byte that cannot occur in UTF-8.
func seriesKey(values []string) string { return strings.Join(values, "\xff") }

// get returns the series for values, creating it at 0; f.mu is held.
func (f *family) get(values []string) *series {
	if len(values) != len(f.labels) {
		panic("metrics: " + f.name + " takes " + strconv.Itoa(len(f.labels)) + " label values")
	}
	k := seriesKey(values)
	s := f.series[k]
	if s == nil {
		s = &series{values: slices.Clone(values)}
		f.series[k] = s
	}
	return s
}

// set sets the series of values to v.
func (f *family) set(v float64, values ...string) {
	f.mu.Lock()
	f.get(values).v = v
	f.mu.Unlock()
}

// add adds d to the series of values (created at 0 if new).
func (f *family) add(d float64, values ...string) {
	f.mu.Lock()
	f.get(values).v += d
	f.mu.Unlock()
}

// delete removes the series of values, if any.
func (f *family) delete(values ...string) {
	f.mu.Lock()
	delete(f.series, seriesKey(values))
	f.mu.Unlock()
}

// deleteMatching removes every series whose label name has value.
func (f *family) deleteMatching(name, value string) {
	i := slices.Index(f.labels, name)
	if i < 0 {
		return
	}
	f.mu.Lock()
	for k, s := range f.series {
		if s.values[i] == value {
			delete(f.series, k)
		}
	}
	f.mu.Unlock()
}

// value returns the series of values and whether it exists (for tests).
func (f *family) value(values ...string) (float64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.series[seriesKey(values)]
	if !ok {
		return 0, false
	}
	return s.v, true
}

// snapshot copies the family's series for writing, with the labels in
// name order and the series sorted, as client_golang wrote them.
func (f *family) snapshot() snapshotFamily {
	order := make([]int, len(f.labels))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(f.labels[a], f.labels[b]) })
	out := snapshotFamily{name: f.name, help: f.help, typ: f.typ}
	f.mu.Lock()
	for _, s := range f.series {
		smp := sample{v: s.v}
		for _, i := range order {
			smp.labels = append(smp.labels, label{f.labels[i], s.values[i]})
		}
		out.samples = append(out.samples, smp)
	}
	f.mu.Unlock()
	slices.SortFunc(out.samples, func(a, b sample) int {
		for i := range a.labels {
			if c := strings.Compare(a.labels[i].value, b.labels[i].value); c != 0 {
				return c
			}
		}
		return 0
	})
	return out
}

type label struct{ name, value string }

// sample is one line of the exposition: name+suffix{labels} value.
type sample struct {
	suffix string // "_sum", "_count" for a summary's extra lines
	labels []label
	v      float64
}

// snapshotFamily is a family as written at one scrape.
type snapshotFamily struct {
	name, help, typ string
	samples         []sample
}

// writeText writes the families in name order in the text format;
// families without series are left out (Prometheus does the same).
func writeText(w io.Writer, fams []snapshotFamily) error {
	slices.SortFunc(fams, func(a, b snapshotFamily) int { return strings.Compare(a.name, b.name) })
	var b []byte
	for _, f := range fams {
		if len(f.samples) == 0 {
			continue
		}
		b = append(b, "# HELP "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = appendEscaped(b, f.help, false)
		b = append(b, "\n# TYPE "...)
		b = append(b, f.name...)
		b = append(b, ' ')
		b = append(b, f.typ...)
		b = append(b, '\n')
		for _, s := range f.samples {
			b = appendSample(b, f.name, s)
		}
		if len(b) > 32<<10 {
			if _, err := w.Write(b); err != nil {
				return err
			}
			b = b[:0]
		}
	}
	_, err := w.Write(b)
	return err
}

func appendSample(b []byte, name string, s sample) []byte {
	b = append(b, name...)
	b = append(b, s.suffix...)
	if len(s.labels) > 0 {
		b = append(b, '{')
		for i, l := range s.labels {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, l.name...)
			b = append(b, `="`...)
			b = appendEscaped(b, l.value, true)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, s.v)
	return append(b, '\n')
}

// appendEscaped escapes a HELP text (backslash, newline) or a label value
// (also the double quote), as the text format requires.
func appendEscaped(b []byte, s string, quote bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat writes a value as client_golang did: the shortest 'g'
// form, and +Inf, -Inf, NaN spelled the way the format wants them.
func appendFloat(b []byte, v float64) []byte {
	switch {
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	case math.IsNaN(v):
		return append(b, "NaN"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

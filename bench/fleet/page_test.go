package main

import (
	"reflect"
	"strings"
	"testing"
)

// TestSplice: the section goes before "What could not be run" the first
// time, and replaces itself, only itself, the next time.
func TestSplice(t *testing.T) {
	doc := "# Benchmarks\n\n## 6. Size\n\ntext\n\n## What could not be run or differs from the issue\n\n- x\n"
	once := splice(doc, "## Fleet: 1\n\nA\n")
	if !strings.Contains(once, "## Fleet: 1") || strings.Index(once, "## Fleet") > strings.Index(once, "## What could not") {
		t.Fatalf("first splice misplaced:\n%s", once)
	}
	twice := splice(once, "## Fleet: 2\n\nB\n")
	if strings.Contains(twice, "Fleet: 1") || strings.Count(twice, beginMark) != 1 || !strings.Contains(twice, "Fleet: 2") {
		t.Fatalf("second splice did not replace the first:\n%s", twice)
	}
	if strings.Replace(twice, beginMark+"\n## Fleet: 2\n\nB\n"+endMark+"\n\n", "", 1) != doc {
		t.Fatalf("splice changed text outside its section:\n%s", twice)
	}
}

// TestHistogram counts how many seconds saw k renewals.
func TestHistogram(t *testing.T) {
	got := histogram(map[int64]int{10: 1, 11: 1, 12: 3, 13: 1})
	if want := []int{0, 3, 0, 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("histogram %v, want %v", got, want)
	}
}

#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a fixed number of inputs
# each (CERTAGENT_FUZZTIME, default 100000x), on top of the seed corpora in
# each package's testdata/fuzz that plain `go test` already replays. A
# crasher fails the script; go writes it under testdata/fuzz/FuzzXxx/ so it
# can be committed as a regression seed.
#
# Counts, not durations: with a duration, Go 1.26's fuzz coordinator can
# fail a target with a bare "context deadline exceeded" when the deadline
# races its workers (go.dev/issue/75804, fixed in Go 1.27); it did so here
# while a worker was minimizing a new input. Minimizing is bounded by count
# too, so a slow target cannot stall the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${CERTAGENT_FUZZTIME:-100000x}
minimize=${CERTAGENT_FUZZMINIMIZE:-500x}
# Packages with fuzz targets: every package whose tests define func FuzzXxx.
pkgs=$(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . \
	| grep -v -e '^./.cache/' -e '/testdata/' | xargs -r -n1 dirname | sort -u)
n=0
for dir in $pkgs; do
	for target in $(grep -h -o -E '^func Fuzz[A-Za-z0-9_]+' "$dir"/*_test.go | sed 's/^func //' | sort -u); do
		echo "== fuzz $dir $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" "$dir"
		n=$((n + 1))
	done
done
if [ "$n" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: $n targets, $fuzztime each, no crashers"

#!/usr/bin/env bash
# The whole certagent test suite, as CI runs it (`bash .ci/run`).
# It installs what it needs (Debian packages, pinned Go tools) when run as
# root, then runs static checks, the Go tests (unit, integration against
# real Pebble, openssl and systemd-in-nspawn) and the crash tests.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
export PATH="$CERTAGENT_TOOLS:$PATH"

echo "== setup"
for f in test/setup.d/*.sh; do
	bash "$f"
done

echo "== static checks"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*'))
if [ -n "$unformatted" ]; then
	echo "gofmt wants to change:"; echo "$unformatted"; exit 1
fi
go vet ./...
go vet -tags failpoint ./...

echo "== go test"
mkdir -p .cache
rm -f .cache/fault-figures.txt
# Unit packages run under the race detector. Measured on a shared 2-core
# machine: about 1.5 min with a warm build cache (57 s without -race), 5
# min including the -race build, well inside CI's budget. The end-to-end
# packages (test/..., bench/...) stay without it: they mostly drive real
# binaries, Pebble, step-ca and nspawn, where -race would only multiply
# their time. Every package not listed as a unit package lands in the
# second run, so a new package is never left out.
unit_pkgs=(./acme/... ./agent/... ./cmd/... ./internal/... ./units/... ./watch/...)
other_pkgs=$(go list ./... | grep -vxF -f <(go list "${unit_pkgs[@]}"))
: >.cache/go-test.log
# go_test runs go test into the log and returns go test's own status.
go_test() {
	go test -count=1 -timeout 40m "$@" 2>&1 | tee -a .cache/go-test.log
	return "${PIPESTATUS[0]}"
}
status=0
go_test -race "${unit_pkgs[@]}" || status=$?
# shellcheck disable=SC2086 # one package path per word
go_test $other_pkgs || status=$?
echo "== fault figures"
cat .cache/fault-figures.txt 2>/dev/null || echo "(none recorded)"
if [ "$status" -ne 0 ]; then
	echo "== FAILED (go test exit $status); failing tests:"
	grep -E '^(--- FAIL|FAIL|panic:)' .cache/go-test.log || true
	exit "$status"
fi

echo "== fuzz"
bash test/fuzz.sh # CERTAGENT_FUZZTIME (inputs per target, default 100000x)
echo "== all tests passed"
echo "packages: $(grep -c '^ok' .cache/go-test.log) passed, 0 failed"

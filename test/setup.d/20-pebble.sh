# shellcheck shell=bash
# 20-pebble.sh: install Pebble and pebble-challtestsrv, pinned, for the
# ACME tests (acme/, internal/pebbletest). Sourced by test/all.sh; also
# runnable on its own. Idempotent and quiet: a binary that already reports
# the pinned module version is left alone.

_certagent_pebble_setup() {
	local version=v2.10.1
	local here root tools bin
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd) || return 1
	root=$(cd "$here/../.." && pwd) || return 1
	tools=${CERTAGENT_TOOLS:-$root/.cache/bin}
	mkdir -p "$tools" || return 1
	for bin in pebble pebble-challtestsrv; do
		# `go version -m` prints the main module's version; match it exactly.
		if [ -x "$tools/$bin" ] &&
			go version -m "$tools/$bin" 2>/dev/null |
			grep -Eq "^[[:space:]]+mod[[:space:]]+github.com/letsencrypt/pebble/v2[[:space:]]+$version([[:space:]]|$)"; then
			continue
		fi
		# Outside the repo so the product's go.mod is not consulted.
		local out
		if ! out=$(cd / && GOBIN="$tools" GOFLAGS=-buildvcs=false \
			go install "github.com/letsencrypt/pebble/v2/cmd/$bin@$version" 2>&1); then
			printf '%s\n20-pebble.sh: go install %s@%s failed\n' "$out" "$bin" "$version" >&2
			return 1
		fi
	done
}

_certagent_pebble_setup
_certagent_pebble_rc=$?
unset -f _certagent_pebble_setup
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	exit "$_certagent_pebble_rc"
fi
[ "$_certagent_pebble_rc" -eq 0 ]

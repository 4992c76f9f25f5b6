#!/usr/bin/env bash
# 20-pebble.sh: install Pebble and pebble-challtestsrv, pinned, for the
# ACME tests (acme/, internal/pebbletest, test/acme). Run by test/all.sh
# and bench/run; also runnable on its own. Idempotent and quiet: a binary
# whose build info names the pinned version is left alone.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
for bin in pebble pebble-challtestsrv; do
	need_go_tool "$bin" github.com/letsencrypt/pebble/v2 v2.10.1
done

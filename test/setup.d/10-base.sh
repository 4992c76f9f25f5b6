#!/usr/bin/env bash
# Base tools for the end-to-end tests: real TLS peers and process tools,
# and BIND's named for acme's rfc2136 test.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_pkgs openssl ca-certificates procps curl bind9 bind9-dnsutils

#!/usr/bin/env bash
# Base tools for the end-to-end tests: real TLS peers and process tools.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_pkgs openssl ca-certificates procps curl

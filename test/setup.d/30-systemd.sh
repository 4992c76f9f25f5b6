#!/usr/bin/env bash
# 30-systemd.sh: what the systemd end-to-end suite and the packaging tests
# need: systemd-nspawn, debootstrap and zstd for the container rootfs,
# dbus, lintian and rpm to inspect the packages, openssl for the TLS
# checks, and nfpm (pinned) to build them. Idempotent and quiet.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_pkgs systemd-container debootstrap zstd dbus lintian rpm openssl
# nfpm v2.45.2 is the newest release installable from the module proxy.
need_go_tool nfpm github.com/goreleaser/nfpm/v2 v2.45.2

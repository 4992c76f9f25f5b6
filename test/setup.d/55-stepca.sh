#!/usr/bin/env bash
# 55-stepca.sh: install step-ca, pinned, for the real step-ca tests
# (test/recipes/stepca_test.go, test/cluster, test/fleet). Idempotent and
# quiet: a binary whose build info names the pinned version is left alone.
#
# CGO_ENABLED=0 (need_go_tool) because the default cgo build needs
# libpcsclite (go-piv's YubiKey support, which the tests do not use); the
# pure-Go build has everything they need (soft keys, badger DB, ACME).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_go_tool step-ca github.com/smallstep/certificates v0.30.2

#!/usr/bin/env bash
# 56-step-cli.sh: install the step CLI, pinned, for the step issuer tests
# (test/cluster, test/fleet): they init the PKI with `step ca init`, mint
# one-time tokens with `step ca token` and revoke with `step ca revoke`, as
# an operator would. Idempotent and quiet.
#
# v0.30.2 is the CLI released with step-ca v0.30.2 (55-stepca.sh), so the
# ca.json and tokens it writes are what that step-ca expects; CGO_ENABLED=0
# for the same reason as step-ca.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_go_tool step github.com/smallstep/cli v0.30.2

#!/usr/bin/env bash
# 57-fleet.sh: what test/fleet and bench/fleet need besides step-ca and
# the step CLI (55-, 56-): ip(8) for the network namespaces, veth pairs
# and the bridge, and mount(8) for each daemon's bind-mounted directory.
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_pkgs iproute2 mount

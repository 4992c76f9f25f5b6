# shellcheck shell=bash
# 50-recipes.sh: real clients for the ML-system recipe tests (test/recipes):
# Python gRPC (Flower), dask distributed (Vega) and pyca/cryptography, all
# from Debian for the system interpreter /usr/bin/python3 (the tests call
# it explicitly, never a python3 found on PATH). Sourced by test/all.sh;
# idempotent and quiet.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
need_pkgs openssl python3 python3-grpcio python3-distributed python3-cryptography

#!/bin/sh
# Prints certagent's package version from `git describe --tags --always
# --dirty`: v1.2.3 → 1.2.3, v1.2.3-4-gabc-dirty → 1.2.3+4+gabc+dirty
# (no "-": Debian and RPM reserve it), a bare commit before the first
# tag → 0.1.0+gabc, and 0.1.0 outside git.
d=$(git describe --tags --always --dirty 2>/dev/null)
case "$d" in
v[0-9]* | [0-9]*) v=$(echo "$d" | sed 's/^v//') ;;
"") v=0.1.0 ;;
*) v="0.1.0+g$d" ;;
esac
echo "$v" | tr -- - +

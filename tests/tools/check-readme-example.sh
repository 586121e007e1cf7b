#!/usr/bin/env bash
# The README's C example must be tests/example/example.c, verbatim.
set -euo pipefail
diff <(awk '/^```c$/ {on=1; next} /^```$/ && on {exit} on' README.md) tests/example/example.c \
    || { echo "FAIL: README example differs from tests/example/example.c" >&2; exit 1; }
echo "check-readme: the README example is tests/example/example.c"

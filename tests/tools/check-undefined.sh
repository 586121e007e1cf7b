#!/usr/bin/env bash
# check-undefined.sh NM "ALLOWED SYMBOLS" OBJECTS...
# Fails if the objects, taken together, leave a symbol undefined that is not allowed.
set -euo pipefail
nm_tool=$1; allowed=$2; shift 2
defined=$("$nm_tool" --defined-only "$@" | awk 'NF == 3 {print $3}' | sort -u)
undefined=$("$nm_tool" -u "$@" | awk 'NF >= 2 && $1 == "U" {print $2}' | sort -u)
bad=()
for sym in $undefined; do
    grep -qx "$sym" <<<"$defined" && continue
    grep -qw -- "$sym" <<<"$allowed" || bad+=("$sym")
done
if [ ${#bad[@]} -ne 0 ]; then
    echo "FAIL: $nm_tool: undefined symbols beyond the hooks: ${bad[*]}" >&2
    exit 1
fi
echo "$nm_tool: the core's only undefined symbols are: $(comm -23 <(echo "$undefined") <(echo "$defined") | tr '\n' ' ')"

#!/usr/bin/env bash
# Installs the Debian packages named on the command line that are not installed yet.
# Used by `make test`, `make run` and friends so that a fresh machine needs no set-up.
#
#   install-deps.sh PKG...            install the missing ones (apt-get; root or sudo)
#   install-deps.sh --missing PKG...  only print the missing ones, one line (nothing off Debian)
#
# Recommended packages are not installed: what a build needs is named on the command line
# (gcc's libc6-dev, gcc-arm-none-eabi's libnewlib-arm-none-eabi), so that it is there on a
# machine whose apt is set not to install recommends too. `make fresh-machine` checks that
# nothing is missing.
set -euo pipefail
only_list=
if [ "${1:-}" = --missing ]; then
    only_list=yes
    shift
    command -v dpkg-query >/dev/null || exit 0
fi
missing=()
for pkg in $(printf '%s\n' "$@" | sort -u); do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ -n "$only_list" ]; then
    echo "${missing[*]}"
    exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing: ${missing[*]}"
SUDO=; [ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

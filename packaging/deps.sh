#!/bin/sh
# Installs the Debian packages that ward needs to build and test, if any is missing.
# Idempotent and silent when everything is already there.
set -eu

PKGS="build-essential pkg-config libpcre2-dev libyara-dev libssl-dev zlib1g-dev \
libyaml-dev libsqlite3-dev libcmocka-dev libsystemd-dev systemd-journal-remote clang \
clang-format clang-tidy cppcheck perl python3 fail2ban tzdata libpq-dev postgresql sqlite3 \
nftables debhelper dpkg-dev fakeroot lintian rpm systemd-container strace"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing packages:$missing" >&2
    echo "deps.sh: run as root, or: sudo apt-get install$missing" >&2
    exit 1
fi
echo "deps.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null

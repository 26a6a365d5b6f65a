# Helpers for the package tests (sourced after lib.bash, not run): the versions, and
# the packages built by make deb when build/deb has none newer than the sources.
V1=$(sed -n '1s/[()]/ /gp' packaging/debian/changelog | awk '{print $2}')
V2="$V1+upgradetest1" # sorts after V1 (dpkg --compare-versions)
ARCH=$(dpkg --print-architecture 2>/dev/null)

# build_debs VERSION: make deb VERSION=... unless its packages are newer than every source
build_debs() {
    local v=$1 d
    d="build/deb/ward-agent_${v}_$ARCH.deb"
    if [ -e "$d" ] && [ -e "build/deb/ward-collector_${v}_$ARCH.deb" ] &&
        [ -z "$(find Makefile agent collector lib include tools rules man packaging docs README.md \
            -newer "$d" -print -quit)" ]; then
        return 0
    fi
    local t0=$SECONDS
    make --no-print-directory deb VERSION="$v" >"$T/deb-$v.log" 2>&1 ||
        {
            bad "make deb VERSION=$v"
            tail -30 "$T/deb-$v.log"
            finish
        }
    ok "make deb VERSION=$v ($((SECONDS - t0)) s)"
}
deb() { echo "build/deb/$1_$2_$ARCH.deb"; }

skip() {
    ok "skipped: $*"
    exit 0
}
# pkg_preflight: skips unless root with dpkg, outside the sanitizer run, and with no ward
# package or user on this machine (not a test's to remove); then holds the lock that keeps
# the package tests of every worktree from running at once
pkg_preflight() {
    [ -n "${WARD_SANITIZE:-}" ] && skip "the packages are tested once, not under ASan"
    [ "$(id -u)" -eq 0 ] || skip "needs root (dpkg -i)"
    command -v dpkg >/dev/null && command -v dpkg-buildpackage >/dev/null ||
        skip "needs dpkg and dpkg-buildpackage (packaging/deps.sh installs them)"
    exec 9>/run/lock/ward-pkg-install.lock
    flock -w 600 9 || skip "another package test holds /run/lock/ward-pkg-install.lock"
    local p u
    for p in ward-agent ward-collector; do
        if dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qv '^not-installed$'; then
            skip "$p is installed on this machine already: not this test's to remove"
        fi
    done
    for u in ward ward-collector; do
        getent passwd "$u" >/dev/null && skip "a user $u exists already: not this test's to remove"
    done
}

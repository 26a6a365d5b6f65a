# Shared helpers for integration tests (sourced, not run).
set -u
B=${WARD_BUILD:-build}
WR="$B/ward-rules"
T=$(mktemp -d "${TMPDIR:-/tmp}/ward-it.XXXXXX")
trap 'rm -rf "$T"' EXIT
# The suite runs as root on CI: the programs stay root instead of becoming their users
# (ward, ward-collector), still sandboxed. sandbox.sh unsets it to test the drop.
export WARD_INSECURE_RUN_AS_ROOT=1
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
# expect_grep PATTERN FILE DESCRIPTION
expect_grep() { if grep -qE -- "$1" "$2"; then ok "$3"; else bad "$3 (no /$1/ in $2:)"; sed 's/^/    /' "$2" | head -20; fi; }
finish() { [ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }; exit 0; }

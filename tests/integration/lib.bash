# Shared helpers for integration tests (sourced, not run).
set -u
B=${WARD_BUILD:-build}
WR="$B/ward-rules"
T=$(mktemp -d "${TMPDIR:-/tmp}/ward-it.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok - $*"; }
bad() { echo "not ok - $*"; fails=$((fails + 1)); }
# expect_grep PATTERN FILE DESCRIPTION
expect_grep() { if grep -qE -- "$1" "$2"; then ok "$3"; else bad "$3 (no /$1/ in $2:)"; sed 's/^/    /' "$2" | head -20; fi; }
finish() { [ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }; exit 0; }

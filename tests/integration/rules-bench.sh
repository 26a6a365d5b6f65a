#!/bin/bash
# ward-rules bench: --runs takes 1 to 16, and the core and the naive loop agree.
. "$(dirname "$0")/lib.bash"

"$WR" bench -r rules --runs 16 tests/data/demo/auth.log >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && ok "bench --runs 16 runs" || { bad "bench --runs 16 fails"; cat "$T/err"; }
expect_grep '^ratio: .* agree: yes' "$T/out" "the core and the naive loop find the same pairs"
for n in 0 17; do
    "$WR" bench -r rules --runs $n tests/data/demo/auth.log >/dev/null 2>"$T/err"
    [ $? -eq 2 ] && ok "--runs $n is a usage error" || bad "--runs $n is not a usage error"
    expect_grep '^ward-rules: --runs wants 1 to 16$' "$T/err" "--runs $n says what it takes"
done
finish

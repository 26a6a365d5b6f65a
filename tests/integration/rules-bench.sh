#!/bin/bash
# ward-rules bench: --runs takes 1 to 16, the core and the naive loop agree, and match,
# profile and bench refuse rules with errors.
. "$(dirname "$0")/lib.bash"

"$WR" bench -r rules --runs 16 tests/data/demo/auth.log >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && ok "bench --runs 16 runs" || { bad "bench --runs 16 fails"; cat "$T/err"; }
expect_grep '^ratio: .* agree: yes' "$T/out" "the core and the naive loop find the same pairs"
for n in 0 17; do
    "$WR" bench -r rules --runs $n tests/data/demo/auth.log >/dev/null 2>"$T/err"
    [ $? -eq 2 ] && ok "--runs $n is a usage error" || bad "--runs $n is not a usage error"
    expect_grep '^ward-rules: --runs wants 1 to 16$' "$T/err" "--runs $n says what it takes"
done

# the commands that run rules on logs refuse a rule set with an error, the baseline's too
mkdir -p "$T/bad"
printf 'title: T\nid: x\nlevel: loud\ndetection: {sel: {message: a}, condition: sel}\n' >"$T/bad/x.yml"
for cmd in match profile bench; do
    "$WR" $cmd -r "$T/bad" tests/data/demo/auth.log >"$T/out" 2>"$T/err"
    [ $? -eq 1 ] && ok "$cmd refuses rules with an error" || bad "$cmd runs rules with an error"
    expect_grep 'x\.yml:3:8: rule x: level must be one of' "$T/err" "$cmd says which rule and why"
done
"$WR" bench -r rules --baseline-rules "$T/bad" tests/data/demo/auth.log >/dev/null 2>"$T/err"
[ $? -eq 1 ] && ok "bench refuses a baseline with an error" || bad "bench runs a baseline with an error"
finish

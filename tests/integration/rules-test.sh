#!/bin/bash
# ward-rules test: the shipped rules' samples pass; a wrong sample fails with its place.
. "$(dirname "$0")/lib.bash"

"$WR" test rules >"$T/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "ward-rules test rules/ passes" || { bad "ward-rules test rules/ exits $rc"; grep -v '^PASS' "$T/out"; }
expect_grep '^[1-9][0-9]* passed, 0 failed$' "$T/out" "test prints a runner summary"

cat >"$T/r.yml" <<'Y'
title: wrong samples
id: t-wrong
level: low
detection: {sel: {message|contains: needle}, condition: sel}
extract: {on: message, pcre2: 'needle (?<what>\w+)'}
tests:
  match:
    - line: 'a needle here'
      fields: {what: there}
    - 'no such thing'
  no_match:
    - 'a needle again'
---
title: extract without sample
id: t-nosample
level: low
detection: {sel: {message|contains: hay}, condition: sel}
extract: {on: message, pcre2: 'hay (?<what>\w+)'}
Y
"$WR" test "$T/r.yml" >"$T/out" 2>&1
rc=$?
[ $rc -eq 1 ] && ok "failing samples exit 1" || bad "failing samples exit $rc"
expect_grep 'FAIL .*r\.yml:[0-9]+:[0-9]+: rule t-wrong: match sample 1: field what: expected "there", got "here"' "$T/out" "wrong field value reported"
expect_grep 'FAIL .*rule t-wrong: match sample 2: expected a match' "$T/out" "missed match reported"
expect_grep 'FAIL .*rule t-wrong: no_match sample 1: expected no match' "$T/out" "false match reported"
expect_grep 'FAIL .*rule t-nosample: has extract but no match sample' "$T/out" "extract without sample fails"
expect_grep '^0 passed, 4 failed$' "$T/out" "summary counts failures"
finish

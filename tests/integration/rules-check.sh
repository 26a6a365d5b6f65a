#!/bin/bash
# ward-rules check: good rules pass; every error in a bad set is reported with its place.
. "$(dirname "$0")/lib.bash"

"$WR" check rules >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "check rules/ exits 0" || { bad "check rules/ exits $rc"; cat "$T/err"; }
expect_grep '^[0-9]+ rules loaded \([0-9]+ YARA\), 0 errors' "$T/out" "check prints a summary"

mkdir -p "$T/bad"
cat >"$T/bad/a.yml" <<'Y'
title: good one
id: good-1
level: low
detection: {k: [fine], condition: k}
---
title: bad modifier
id: bad-mod
level: low
detection:
  sel:
    message|frobnicate: x
  condition: sel
---
title: bad regex
id: bad-re
level: high
detection:
  sel:
    message|re: 'ab(c'
  condition: sel
---
title: no level
id: bad-level
detection: {k: [x], condition: k}
Y
printf 'title: broken\nid: [unclosed\n' >"$T/bad/b.yml"
"$WR" check "$T/bad" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && ok "check of a bad set exits 1" || bad "check of a bad set exits $rc"
expect_grep "a\.yml:1[0-9]:[0-9]+: rule bad-mod: .*frobnicate" "$T/err" "unknown modifier named with file:line:col and rule"
expect_grep "a\.yml:[0-9]+:[0-9]+: rule bad-re: .*offset" "$T/err" "bad regex names the offset"
expect_grep "a\.yml:[0-9]+:[0-9]+: rule bad-level: .*level" "$T/err" "missing level reported"
expect_grep "b\.yml:[0-9]+:[0-9]+:" "$T/err" "malformed YAML reported with its place"
[ "$(grep -c . "$T/err")" -ge 4 ] && ok "every error is reported" || bad "only $(grep -c . "$T/err") errors reported"
expect_grep '^1 rules loaded' "$T/out" "the good rule still loads"

# a rule repeated under another id is listed as sharing the first one's verdict
mkdir -p "$T/dup"
for id in first second; do
    printf -- '---\ntitle: t\nid: %s\nlevel: low\ndetection: {k: [needle], condition: k}\n' "$id"
done >"$T/dup/d.yml"
"$WR" check "$T/dup" >"$T/out" 2>"$T/err"
expect_grep '^1 rules have the same detection and scope as an earlier rule' "$T/out" "copies counted"
expect_grep '^  second = first  \(.*d\.yml:7\)$' "$T/out" "copy named with the rule it repeats"

"$WR" check "$T/missing" 2>"$T/err"
[ $? -eq 1 ] && ok "missing path exits 1" || bad "missing path exit code"
expect_grep "missing: cannot open: No such file" "$T/err" "missing path names the file and reason"

"$WR" frob >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown command exits 2" || bad "unknown command exit code"
"$WR" --help | grep -q '^Exit status' && ok "--help documents exit status" || bad "--help"
finish

#!/bin/bash
# docs/rules.md lists the shipped rules as tools/rules-list.pl finds them, and as many as
# ward-rules loads.
. "$(dirname "$0")/lib.bash"

perl tools/rules-list.pl rules >"$T/list"
awk '/^## The shipped rules/ { on = 1; next } /^## / { on = 0 } on' docs/rules.md |
    sed -n '/^[0-9]* rules\.$/,$p' >"$T/doc"
diff "$T/list" "$T/doc" >"$T/diff" && ok "docs/rules.md lists the shipped rules" || { bad "docs/rules.md is out of date (tools/rules-list.pl rules)"; head -20 "$T/diff"; }
n=$(sed -n 's/^\([0-9]*\) rules\.$/\1/p' "$T/list")
"$WR" check rules >"$T/out" 2>&1
expect_grep "^$n rules loaded" "$T/out" "the list counts the rules ward-rules loads ($n)"
[ "$n" -ge 120 ] && ok "at least 120 shipped rules ($n)" || bad "only $n shipped rules"
finish

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

# YARA rules: a private rule is not a ward rule, whatever else is; a rule whose name says
# private, or a global one, is
mkdir -p "$T/yr"
cat >"$T/yr/mods.yar" <<'Y'
private rule helper { strings: $a = "helper" condition: $a }
rule ward_private_key_read : secrets
{
    meta:
        id = "t-private-key-read"
        title = "Read of a private key"
        level = "high"
    strings:
        $a = "/etc/ssl/private/"
    condition:
        $a
}
global rule ward_global_gate
{
    meta:
        id = "t-global-gate"
        title = "Gate"
        level = "low"
    strings:
        $a = "gate"
    condition:
        $a or not $a
}
global private rule global_private_helper
{
    meta:
        id = "t-global-private"
    condition:
        true
}
private global rule private_global_helper
{
    meta:
        id = "t-private-global"
    condition:
        true
}
Y
perl tools/rules-list.pl "$T/yr" >"$T/yr.list"
"$WR" check "$T/yr" >"$T/yr.out" 2>&1
expect_grep '^2 rules loaded' "$T/yr.out" "ward loads the YARA rules that are not private"
expect_grep '^2 rules\.$' "$T/yr.list" "the list counts them"
expect_grep '^\| `t-private-key-read` \| high \| Read of a private key \|$' "$T/yr.list" \
    "a rule whose name says private is listed"
expect_grep '^\| `t-global-gate` \| low \| Gate \|$' "$T/yr.list" "a global rule is listed"
grep -q 't-global-private\|t-private-global' "$T/yr.list" &&
    bad "a private global rule is listed" || ok "private global rules are not listed"
finish

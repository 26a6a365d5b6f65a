#!/bin/bash
# ward-rules check --report: the SigmaHQ rules of tests/data/sigma load at 95% or more and
# every refusal names its reason; the report's parts on a small set with known answers.
. "$(dirname "$0")/lib.bash"

S=tests/data/sigma
"$WR" check --report "$S" >"$T/out" 2>"$T/err"
rc=$?
line=$(head -1 "$T/out")
echo "# $line"
if [[ $line =~ ^([0-9]+)\ of\ ([0-9]+)\ rules\ loaded\ \(([0-9.]+)%\) ]]; then
    n=${BASH_REMATCH[1]} m=${BASH_REMATCH[2]}
    ok "report prints the figure"
    [ "$m" -ge 371 ] && ok "all $m rules counted" || bad "only $m rules counted"
    # n/m >= 0.95 in integers
    [ $((n * 100)) -ge $((m * 95)) ] && ok "at least 95% load ($n of $m)" ||
        bad "fewer than 95% load ($n of $m)"
    refused=$((m - n))
    [ $rc -eq $([ $refused -eq 0 ] && echo 0 || echo 1) ] && ok "exit status $rc" ||
        bad "exit status $rc with $refused refused"
else
    bad "no 'N of M rules loaded (P%)' line: $line"
    refused=-1
fi
[ -s "$T/err" ] && { bad "report wrote to stderr"; cat "$T/err"; } || ok "nothing on stderr"
if grep -q 'no reason given' "$T/out"; then
    bad "a refusal has no reason"
    grep -B1 'no reason given' "$T/out"
else
    ok "every refusal has a reason"
fi
# Each refused rule is a FILE:LINE: rule ... line followed by at least one indented reason.
awk '/^refused \(/ {on=1; next} /^$/ {on=0} on && /^[^ ]/ {if (head && !why) print head; head=$0; why=0; next}
     on && /^    / {why=1} END {if (head && !why) print head}' "$T/out" >"$T/noreason"
[ -s "$T/noreason" ] && { bad "refused rules without a reason line"; cat "$T/noreason"; } ||
    ok "each refused rule is followed by its reason"
nlisted=$(awk '/^refused \(/ {on=1; next} /^$/ {on=0} on && /^[^ ]/' "$T/out" | wc -l)
[ "$nlisted" -eq "$refused" ] && ok "the $refused refused rules are listed" ||
    bad "$nlisted rules listed, $refused refused"
expect_grep '^ +17  log source product=rpc_firewall category=application: Windows RPC Firewall events, which ward does not read$' \
    "$T/out" "refusals grouped by reason with counts"
grep -A50 '^refusals by reason' "$T/out" | sed -n '2,/^$/p' | sed '/^$/d' | sed 's/^/# /'

# A small set with one of each outcome.
mkdir -p "$T/set/sub"
cat >"$T/set/a.yml" <<'Y'
title: Loads
id: s-good
level: low
logsource: {category: proxy}
detection: {sel: {c-useragent|contains: sqlmap}, condition: sel}
---
title: Bad modifier
id: s-mod
level: low
logsource: {category: webserver}
detection:
  sel:
    cs-uri-query|expand: '%x%'
  condition: sel
Y
cat >"$T/set/b.yml" <<'Y'
title: RPC
id: s-rpc
level: high
logsource: {product: rpc_firewall, category: application}
detection: {sel: {EventID: 3}, condition: sel}
Y
cat >"$T/set/sub/c.yml" <<'Y'
title: Unknown source
id: s-unknown
level: low
logsource: {product: acme, service: widget}
detection: {sel: {thing: x}, condition: sel}
---
title: Cookie
id: s-cookie
level: low
logsource: {category: proxy}
detection: {sel: {cs-cookie|contains: x}, condition: sel}
---
title: Broken
id: [unclosed
Y
cat >"$T/set/ignored.txt" <<'Y'
not a rule
Y
"$WR" check --report "$T/set" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && ok "a set with refusals exits 1" || bad "a set with refusals exits $rc"
expect_grep '^3 of 6 rules loaded \(50\.0%\) from 3 files$' "$T/out" "figure for the small set"
expect_grep "^$T/set/a.yml:7: rule s-mod \"Bad modifier\"$" "$T/out" "refused rule with file, line, id, title"
expect_grep "^    13:5: unsupported modifier 'expand' \(field 'cs-uri-query'\)$" "$T/out" \
    "the exact construct"
expect_grep "^$T/set/b.yml:1: rule s-rpc \"RPC\"$" "$T/out" "refused log source rule"
expect_grep "^    4:12: log source product=rpc_firewall category=application: Windows RPC Firewall" \
    "$T/out" "the log source and why"
expect_grep "^$T/set/sub/c.yml:1[0-9]: rule " "$T/out" "a YAML error is a refused document"
expect_grep "^ +1  unsupported modifier 'expand'$" "$T/out" "groups leave out the field"
expect_grep "^$T/set/sub/c.yml:1: rule s-unknown: log source product=acme service=widget is not in ward's table" \
    "$T/out" "warning: log source without a mapping"
expect_grep "^$T/set/sub/c.yml:7: rule s-cookie: field 'cs-cookie' is not among the fields" \
    "$T/out" "warning: field no decoder produces"
grep -q 's-good' "$T/out" && bad "a rule that loaded cleanly is listed" || ok "clean rules are not listed"
# each rule file is opened once: what is counted is what was loaded
if command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null; then
    strace -f -e trace=open,openat -o "$T/trace" "$WR" check --report "$T/set" >/dev/null 2>&1
    opens=$(grep -E '"[^"]*/set/[^"]*\.yml"' "$T/trace" | grep -v ENOENT |
        sed -E 's/.*"([^"]*)".*/\1/' | sort | uniq -c | awk '{print $1}' | sort -u | paste -sd, -)
    [ "$opens" = 1 ] && ok "each rule file is read once" || bad "rule files opened $opens times"
else
    ok "# skip: strace cannot run here, the files' reads are not counted"
fi
"$WR" check --report "$T/set/ignored.txt" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "a file named that is not YAML exits 1" || bad "a file named that is not YAML does not exit 1"
expect_grep 'ignored\.txt: not a Sigma rule file: expected \.yml or \.yaml' "$T/out" \
    "a file named that is not YAML is reported"

mkdir -p "$T/clean"
cp "$T/set/b.yml" "$T/clean/" 2>/dev/null
sed -n '1,5p' "$T/set/a.yml" >"$T/clean/b.yml"
"$WR" check --report "$T/clean" >"$T/out" 2>&1
rc=$?
[ $rc -eq 0 ] && ok "a clean set exits 0" || { bad "a clean set exits $rc"; cat "$T/out"; }
expect_grep '^1 of 1 rules loaded \(100\.0%\) from 1 files$' "$T/out" "figure for a clean set"
"$WR" check --report >/dev/null 2>"$T/err"
[ $? -eq 2 ] && ok "no path is a usage error" || bad "no path is not a usage error"
"$WR" check --report "$T/nosuch" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "a missing path exits 1" || bad "a missing path does not exit 1"
expect_grep "nosuch: cannot open" "$T/out" "a missing path is reported"
finish

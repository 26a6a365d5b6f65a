#!/bin/bash
# ward-rules import-fail2ban against fail2ban itself: every filter of the installed
# fail2ban that has an annotated sample log is imported with --samples, and the samples
# (fail2ban's own test data: "# failJSON: {...}" before each line) are run with
# ward-rules test. A sample agrees when ward's verdict and fields (src_ip/src_host,
# user) are fail2ban's. Prints the agreement of every filter and the overall figure;
# fails below BAR, or when a filter disagrees where tests/data/fail2ban-known.txt does
# not say why. Nothing converted from fail2ban (GPL) is kept: it all goes to $T.
. "$(dirname "$0")/lib.bash"

FILTERS=/etc/fail2ban/filter.d
LOGS=${FAIL2BAN_SAMPLES:-/usr/lib/python3/dist-packages/fail2ban/tests/files/logs}
KNOWN=tests/data/fail2ban-known.txt
BAR=92.0 # percent of all annotated samples, those of filters not imported included

# sanitizer reports in a program's stderr (the ASan run of the tests)
no_sanitizer_report() {
    if grep -q 'Sanitizer' "$1"; then bad "$2: sanitizer report"; grep -A5 Sanitizer "$1" | head -20; fi
}

# ---- the importer on filters written here (no fail2ban needed) ----
mkdir -p "$T/f/filter.d" "$T/f/samples" "$T/f/out"
cat >"$T/f/filter.d/common.conf" <<'C'
[DEFAULT]
_daemon = \S*
__prefix_line = \s*\S+ %(_daemon)s(?:\[\d+\])?:\s+
C
cat >"$T/f/filter.d/demo.conf" <<'C'
# comment
[INCLUDES]
before = common.conf

[DEFAULT]
_daemon = demod

[Definition]
mode = normal
prefregex = ^%(__prefix_line)s<F-CONTENT>.+</F-CONTENT>$
failregex = ^auth failed for <F-USER>\S+</F-USER> from <HOST>$
            <mdre-<mode>>
            ^broken ( from <HOST>
mdre-normal =
mdre-aggressive = ^probe(?: x){,2} from <HOST>$
ignoreregex = ^auth failed for ignored ; an inline comment
C
printf '[Definition]\nfailregex = ^x <HOST>\nmaxlines = 3\n' >"$T/f/filter.d/multi.conf"
cat >"$T/f/samples/demo" <<'S'
# failJSON: { "match": true, "host": "192.0.2.1", "user": "bob" }
Jan  1 00:00:01 host demod[1]: auth failed for bob from 192.0.2.1
# failJSON: { "match": false }
Jan  1 00:00:02 host demod[1]: auth failed for ignored from 192.0.2.1
Jan  1 00:00:03 host other[1]: probe from 192.0.2.3
# filterOptions: [{"mode": "aggressive"}]
# failJSON: { "match": true, "host": "192.0.2.9" }
Jan  1 00:00:04 host demod[1]: probe x x from 192.0.2.9
# failJSON: { "constraint": "opts.get('mode') != 'aggressive'", "match": true }
Jan  1 00:00:05 host demod[1]: never tested
S
printf '[DEFAULT]\nmaxretry = 5\nfindtime = 10m\n[demo]\nfilter = demo[mode=normal]\nmaxretry = 3\nfindtime = 1h 30m\n' >"$T/f/jail.conf"
"$WR" import-fail2ban --samples "$T/f/samples" --jail "$T/f/jail.conf" "$T/f/filter.d/demo.conf" \
    "$T/f/filter.d/multi.conf" -o "$T/f/out" >"$T/f/import.out" 2>"$T/f/import.err"
rc=$?
[ $rc -eq 1 ] && ok "a filter not imported makes the import exit 1" || { bad "import exits $rc"; cat "$T/f/import.err"; }
no_sanitizer_report "$T/f/import.err" import-fail2ban
expect_grep '^imported demo: 2 rules \(f2b-demo, f2b-demo-aggressive\), 4 tests from 5 sample lines$' \
    "$T/f/import.out" "a rule per mode, the samples as tests"
expect_grep 'demo\.conf:11: failregex [0-9]+ not converted: missing \)' "$T/f/import.err" \
    "a regex that does not convert is reported with file and line"
expect_grep '^skipped multi: .*multi\.conf:3: maxlines = 3' "$T/f/import.out" "a multi-line filter is skipped, with why"
expect_grep '^summary: 2 filters: 1 imported \(2 rules, 4 tests\), 1 skipped, 0 failed; 1 regexes not converted' \
    "$T/f/import.out" "summary"
expect_grep '^  count: 3$' "$T/f/out/demo.yml" "threshold count from the jail's maxretry"
expect_grep '^  within: 5400$' "$T/f/out/demo.yml" "threshold window from the jail's findtime"
expect_grep "f2b\.line\|re: .*auth failed for \(\?<user>" "$T/f/out/demo.yml" "F-USER becomes the group user"
"$WR" test "$T/f/out" >"$T/f/test.out" 2>&1 && ok "the samples pass as ward tests" ||
    { bad "ward-rules test on the demo rules"; cat "$T/f/test.out"; }
no_sanitizer_report "$T/f/test.out" "ward-rules test"
expect_grep '^4 passed, 0 failed$' "$T/f/test.out" "every sample ran"
"$WR" import-fail2ban "$T/f/filter.d/demo.conf" >/dev/null 2>&1
[ $? -eq 2 ] && ok "no -o is a usage error" || bad "no -o is not a usage error"
"$WR" import-fail2ban "$T/f/filter.d/nope.conf" -o "$T/f/out" >"$T/f/nope.out" 2>&1
[ $? -eq 1 ] && ok "a missing filter fails the import" || bad "a missing filter does not fail"
expect_grep 'nope\.conf: cannot be read' "$T/f/nope.out" "a missing filter is reported"

# the annotations' JSON: escapes (\u00e9, a surrogate pair, \/, \t), no blanks, nesting
mkdir -p "$T/j/samples" "$T/j/out"
printf '[Definition]\nmode = normal\nfailregex = auth failed for <F-USER>.+</F-USER> from <HOST>$\n' \
    >"$T/j/esc.conf"
cat >"$T/j/samples/esc" <<'S'
# fileOptions: {"logtype": "file", "n": 1.5e1, "x": null, "b": false}
# failJSON: { "match": true, "host": "192.0.2.1", "user": "ren\u00e9" }
Jan  1 00:00:01 host demod[1]: auth failed for rené from 192.0.2.1
# failJSON: {"match":true,"host":"192.0.2.2","user":"a\/b\ud83d\ude00\tc"}
Jan  1 00:00:02 host demod[1]: auth failed for a/b😀	c from 192.0.2.2
# failJSON: { "time": "2005-01-01T00:00:03", "match": false, "desc": {"a": [1, "x"]} }
Jan  1 00:00:03 host demod[1]: auth failed for nobody
# filterOptions: [{"mode": "normal"}, {"mode": "normal", "test.condition": "name == 'esc'"}]
# failJSON: { "constraint": "opts.get('mode') == 'normal'", "match": true, "host": "192.0.2.4", "user": "\u0041\"q\\" }
Jan  1 00:00:04 host demod[1]: auth failed for A"q\ from 192.0.2.4
S
"$WR" import-fail2ban --samples "$T/j/samples" "$T/j/esc.conf" -o "$T/j/out" >"$T/j/out.txt" 2>"$T/j/err.txt"
no_sanitizer_report "$T/j/err.txt" import-fail2ban
# fileOptions' values as fail2ban's test gives them to the filter: False, 1.5e1, ''
expect_grep '^imported esc: 2 rules \(f2b-esc, f2b-esc-b-False-logtype-file-n-1\.5e1-x-\), 4 tests from 4 sample lines$' \
    "$T/j/out.txt" "annotations with escapes, no blanks and nesting are read"
expect_grep "user: 'rené'" "$T/j/out/esc.yml" "\\u00e9 is é"
expect_grep 'user: "a/b😀\\tc"' "$T/j/out/esc.yml" "a surrogate pair is one character, \\/ is /"
"$WR" test "$T/j/out" >"$T/j/test.txt" 2>&1 && ok "the escaped samples pass as ward tests" ||
    { bad "ward-rules test on the escaped samples"; cat "$T/j/test.txt"; }
no_sanitizer_report "$T/j/test.txt" "ward-rules test"

# ---- the importer's limits: hostile or broken filters and samples ----
# import_lim NAME [ARGS...]: imports $T/lim/NAME.conf into $T/lim/out, output in
# $T/lim/NAME.out and .err and its exit status in $T/lim/NAME.rc; a minute at most, and
# (but under ASan, which reserves more) 2 GB of memory, so that a filter the importer
# would expand for ever fails the test instead of the machine.
mkdir -p "$T/lim/out" "$T/lim/samples"
import_lim() {
    local name=$1
    shift
    (
        [ -n "${WARD_SANITIZE:-}" ] || ulimit -v 2000000
        exec timeout 60 "$WR" import-fail2ban "$@" "$T/lim/$name.conf" -o "$T/lim/out"
    ) >"$T/lim/$name.out" 2>"$T/lim/$name.err"
    echo $? >"$T/lim/$name.rc"
    no_sanitizer_report "$T/lim/$name.err" "import-fail2ban $name"
}
rc_is() { # NAME RC DESCRIPTION
    local rc
    rc=$(cat "$T/lim/$1.rc")
    [ "$rc" -eq "$2" ] && ok "$3" || { bad "$3: exit $rc, not $2"; head -5 "$T/lim/$1.err"; }
}

# a sample log that adds a device, and a filter file over the size limit
printf '[Definition]\nfailregex = ^x <HOST>$\n' >"$T/lim/zero.conf"
printf '# addFILE: "../../../../../../dev/zero"\nx 192.0.2.1\n' >"$T/lim/samples/zero"
import_lim zero --samples "$T/lim/samples"
rc_is zero 0 "a sample log that adds /dev/zero: the filter is still imported"
expect_grep 'dev/zero: not a regular file' "$T/lim/zero.err" "a sample file that is no regular file is refused"
expect_grep '^imported zero: 1 rule \(f2b-zero\), 1 tests from 1 sample lines$' "$T/lim/zero.out" \
    "the samples of the regular file are read"
{ printf '[Definition]\nfailregex = ^x <HOST>$\n'; head -c 1100000 /dev/zero | tr '\0' '#' | fold -w 100; } \
    >"$T/lim/big.conf"
import_lim big
rc_is big 1 "a filter over the size limit fails"
expect_grep 'big\.conf: file is [0-9]+ bytes, over the 1048576 byte limit' "$T/lim/big.err" \
    "a filter over the size limit is reported with the limit"

# includes: nested too deep, a cycle, and a fan-out (each file includes the next twice)
for i in $(seq 0 40); do printf '[INCLUDES]\nbefore = deep%d.conf\n' $((i + 1)) >"$T/lim/deep$i.conf"; done
printf '[Definition]\nfailregex = ^x <HOST>$\n' >"$T/lim/deep41.conf"
cp "$T/lim/deep0.conf" "$T/lim/deep.conf"
import_lim deep
rc_is deep 1 "includes nested too deep fail the filter"
expect_grep 'deep\.conf: includes nested deeper than 32 levels \(at .*/deep33\.conf\)' "$T/lim/deep.err" \
    "includes nested too deep are reported"
printf '[INCLUDES]\nbefore = cycle-b.conf\n[Definition]\nfailregex = ^x <HOST>$\n' >"$T/lim/cycle.conf"
printf '[INCLUDES]\nbefore = cycle.conf\n' >"$T/lim/cycle-b.conf"
import_lim cycle
rc_is cycle 0 "an include cycle is skipped, as fail2ban skips it"
expect_grep 'cycle-b\.conf:2: .*/cycle\.conf is already being read \(an include cycle\): not read again' \
    "$T/lim/cycle.err" "an include cycle is reported"
for i in $(seq 0 30); do printf '[INCLUDES]\nbefore = fan%d.conf\n  fan%d.conf\n' $((i + 1)) $((i + 1)) >"$T/lim/fan$i.conf"; done
printf '[Definition]\nfailregex = ^x <HOST>$\n' >"$T/lim/fan31.conf"
cp "$T/lim/fan0.conf" "$T/lim/fan.conf"
import_lim fan
rc_is fan 1 "a filter whose includes fan out fails"
expect_grep 'fan\.conf: over 256 files read with its includes' "$T/lim/fan.err" \
    "includes that fan out stop at the file limit, and say so"
expect_grep '^  not imported: fan: .*over 256 files' "$T/lim/fan.out" "the summary says why"

# values: a tag cycle among tags first seen after 64 others, ten options each naming the
# next ten times (10^9 bytes), tags that each double the value (2^40 bytes)
{ printf '[Definition]\nfailregex = ^x <t0> <HOST>$\n'
  for i in $(seq 0 69); do printf 't%d = <t%d>\n' $i $((i + 1)); done
  printf 't70 = <t66>\n'; } >"$T/lim/tagcycle.conf"
import_lim tagcycle
rc_is tagcycle 1 "a tag cycle fails the filter"
expect_grep 'tagcycle\.conf: option failregex refers to itself through <t(6[6-9]|70)>' \
    "$T/lim/tagcycle.err" "a tag cycle after 64 other tags is found and reported"
{ printf '[Definition]\nfailregex = ^%%(v0)s <HOST>$\n'
  for i in $(seq 0 8); do printf 'v%d = ' $i; for k in $(seq 10); do printf '%%(v%d)s' $((i + 1)); done; echo; done
  printf 'v9 = x\n'; } >"$T/lim/interp.conf"
import_lim interp
rc_is interp 1 "a value that interpolates to 10^9 bytes fails the filter"
expect_grep 'interp\.conf:2: \[Definition\] failregex: the value grows over 65536 bytes' \
    "$T/lim/interp.err" "interpolation stops at the value limit, naming the filter and option"
{ printf '[Definition]\nfailregex = ^<t0> <HOST>$\n'
  for i in $(seq 0 39); do printf 't%d = <t%d><t%d>\n' $i $((i + 1)) $((i + 1)); done
  printf 't40 = x\n'; } >"$T/lim/double.conf"
import_lim double
rc_is double 1 "tags that double the value fail the filter"
expect_grep 'double\.conf: option failregex grows over 65536 bytes when <t[0-9]+> is replaced' \
    "$T/lim/double.err" "tag substitution stops at the value limit, naming the filter and option"

# samples that cannot be tests: an annotation that is not JSON (its sample is not a
# no_match test), a line that is not UTF-8 (YAML cannot hold it: not counted as a test)
printf '[Definition]\nfailregex = auth failed from <HOST>$\n' >"$T/lim/badjson.conf"
cat >"$T/lim/samples/badjson" <<'S'
# failJSON: { "match": true, "host": "192.0.2.1" }
Jan  1 00:00:01 host demod[1]: auth failed from 192.0.2.1
# failJSON: { "match": true, "host": 
Jan  1 00:00:02 host demod[1]: auth failed from 192.0.2.2
# failJSON: ["match", true]
Jan  1 00:00:03 host demod[1]: auth failed from 192.0.2.3
# failJSON: { "match": true, "host": "192.0.2.4", "user": "a\u0000b" }
Jan  1 00:00:04 host demod[1]: auth failed from 192.0.2.4
S
import_lim badjson --samples "$T/lim/samples"
expect_grep 'badjson:3: annotation is not JSON \(YAML: [^)]+\): the sample on line 4 is not imported' \
    "$T/lim/badjson.err" "an annotation that is not JSON is reported with why and its sample"
expect_grep 'badjson:5: the failJSON is not an object: the sample on line 6 is not imported' \
    "$T/lim/badjson.err" "a failJSON that is JSON but no object is reported"
expect_grep 'badjson:7: annotation is not JSON \(a string holds \\u0000\)' \
    "$T/lim/badjson.err" "a \\u0000 in an annotation is refused"
expect_grep '^imported badjson: 1 rule \(f2b-badjson\), 1 tests from 4 sample lines, 3 tests not imported$' \
    "$T/lim/badjson.out" "the sample of an annotation that is not JSON is not a test, and is counted"
if grep -qE '192\.0\.2\.[234]' "$T/lim/out/badjson.yml"; then bad "the sample of a bad annotation became a test"; else
    ok "the samples of bad annotations are not tests"; fi
cp "$T/lim/badjson.conf" "$T/lim/notutf8.conf"
{ printf '# failJSON: { "match": true, "host": "192.0.2.1" }\n'
  printf 'Jan  1 00:00:01 host demod[1]: auth failed from 192.0.2.1\n'
  printf 'Jan  1 00:00:02 host demod[1]: auth \377failed from 192.0.2.2\n'; } >"$T/lim/samples/notutf8"
import_lim notutf8 --samples "$T/lim/samples"
expect_grep 'notutf8:3: not UTF-8, cannot be a YAML test' "$T/lim/notutf8.err" "a sample that is not UTF-8 is reported"
expect_grep '^imported notutf8: 1 rule \(f2b-notutf8\), 1 tests from 2 sample lines, 1 tests not imported$' \
    "$T/lim/notutf8.out" "a sample that is not UTF-8 is not counted as a test"
expect_grep '^summary: 1 filters: 1 imported \(1 rules, 1 tests\)' "$T/lim/notutf8.out" \
    "the summary counts the tests written"

# ---- fail2ban's own filters and samples ----
if [ ! -d "$FILTERS" ] || [ ! -d "$LOGS" ]; then
    echo "not ok - fail2ban is not installed ($FILTERS or $LOGS is missing);" \
        "packaging/deps.sh installs it (apt-get install fail2ban)"
    exit 1
fi

filters=()
for f in "$FILTERS"/*.conf; do
    [ -f "$LOGS/$(basename "$f" .conf)" ] && filters+=("$f")
done
[ ${#filters[@]} -gt 0 ] || { bad "no fail2ban filter has a sample log in $LOGS"; finish; }

mkdir -p "$T/rules"
"$WR" import-fail2ban --samples "$LOGS" --jail /etc/fail2ban/jail.conf "${filters[@]}" \
    -o "$T/rules" >"$T/import.out" 2>"$T/import.err"
rc=$?
# 1: some filter was not imported (reported in the summary); 2 or worse: a failure
[ $rc -le 1 ] && ok "import-fail2ban runs (exit $rc)" || { bad "import-fail2ban exits $rc"; cat "$T/import.err"; }
no_sanitizer_report "$T/import.err" import-fail2ban
expect_grep '^summary: [0-9]+ filters: [0-9]+ imported' "$T/import.out" "import prints a summary"

# the rules load
"$WR" check "$T/rules" >"$T/check.out" 2>&1 && ok "the imported rules load" ||
    { bad "ward-rules check fails on the imported rules"; head -20 "$T/check.out"; }

# per filter: samples agreeing / samples, and the failing samples' origins
: >"$T/table"
: >"$T/failing"
for f in "${filters[@]}"; do
    name=$(basename "$f" .conf)
    y="$T/rules/$name.yml"
    pass=0
    fail=0
    if [ -f "$y" ]; then
        "$WR" test "$y" >"$T/test.out" 2>&1
        no_sanitizer_report "$T/test.out" "ward-rules test $name"
        pass=$(grep -c '^PASS .* sample [0-9]' "$T/test.out")
        fail=$(grep -c '^FAIL .* sample [0-9]' "$T/test.out")
        # FAIL FILE:LINE:COL: rule ID: ...: the sample's origin is the comment above it
        grep '^FAIL .* sample [0-9]' "$T/test.out" | sed -E 's/^FAIL [^:]+:([0-9]+):.*/\1/' |
            while read -r ln; do
                sed -n "$((ln - 1))p" "$y" | sed -E "s/^ *# /$name /"
            done >>"$T/failing"
    fi
    lost=$(grep -E "^(imported|skipped) $name: " "$T/import.out" |
        sed -nE 's/.*[ (]([0-9]+) tests not imported.*/\1/p')
    lost=${lost:-0}
    echo "$name $pass $((pass + fail + lost)) $fail $lost" >>"$T/table"
done

# known disagreements: "FILTER COUNT REASON" (that many samples) or "FILTER FILE:LINE REASON"
known_ok() { # FILTER FAILING LOST -> 0 when the known file explains them all
    awk -v f="$1" -v nfail="$2" -v lost="$3" -v failing="$T/failing" '
        $1 == f && $2 ~ /^[0-9]+$/ { budget += $2; next }
        $1 == f && $2 ~ /:[0-9]+$/ { listed[$2] = 1; next }
        END {
            while ((getline l < failing) > 0) {
                split(l, a, " ")
                if (a[1] != f) continue
                if (!(a[2] in listed)) unlisted++
            }
            exit (unlisted + lost <= budget) ? 0 : 1
        }' "$KNOWN"
}

[ -f "$KNOWN" ] || { bad "$KNOWN is missing"; finish; }
printf '%-24s %9s %7s  %s\n' filter agree "%" status
total=0
agree=0
while read -r name pass n fail lost; do
    total=$((total + n))
    agree=$((agree + pass))
    pct=$(awk -v a="$pass" -v n="$n" 'BEGIN { printf "%.1f", n ? 100 * a / n : 100 }')
    status=ok
    if [ $((fail + lost)) -gt 0 ]; then
        if known_ok "$name" "$fail" "$lost"; then
            status="known ($((fail + lost)) in $KNOWN)"
        else
            status="DISAGREES"
            bad "$name: $((fail + lost)) samples disagree and $KNOWN does not explain them"
            grep "^$name " "$T/failing" | sed 's/^/    /'
        fi
    fi
    printf '%-24s %4d/%-4d %6s%%  %s\n' "$name" "$pass" "$n" "$pct" "$status"
done <"$T/table"
overall=$(awk -v a="$agree" -v n="$total" 'BEGIN { printf "%.1f", n ? 100 * a / n : 0 }')
echo "overall: $agree of $total annotated samples agree ($overall%); bar $BAR%"
awk -v o="$overall" -v b="$BAR" 'BEGIN { exit !(o + 0 >= b + 0) }' &&
    ok "overall agreement $overall% >= $BAR%" || bad "overall agreement $overall% < $BAR%"

# entries of the known file that no longer disagree are worth removing
awk '$2 ~ /:[0-9]+$/ { print $1, $2 }' "$KNOWN" | while read -r name origin; do
    grep -q "^$name $origin\$" "$T/failing" || echo "note: $KNOWN: $name $origin now agrees"
done
finish

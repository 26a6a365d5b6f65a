#!/bin/bash
# ward-agent --once and --check: first run starts at the end, later runs resume from the
# bookmarks, a partial line waits for its newline across runs, an overlong line is cut and
# counted while the file goes on, bad configurations are refused with their place.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

write_config "$T/a.yml"
gen "$T/logs/app.log" 1 10

"$WA" --check -c "$T/a.yml" >"$T/out" 2>&1 && ok "--check accepts the configuration" || { bad "--check"; cat "$T/out"; }
expect_grep 'configuration ok: 1 sources; 2 rules' "$T/out" "--check says what it loaded"

# the very first run starts at the end of what exists
"$WA" --once -c "$T/a.yml" 2>"$T/err1" && ok "first --once exits 0" || { bad "first --once"; cat "$T/err1"; }
[ "$(distinct_count "$T/alerts.json")" -eq 0 ] && ok "first run: existing lines are not read" || bad "first run read old lines"
expect_grep '^file	logs	[0-9]+:[0-9]+	[0-9]+	[0-9]+	[0-9a-f]{16}	.*/app\.log$' "$T/state/bookmarks" "bookmark record written"

gen "$T/logs/app.log" 11 30
"$WA" --once -c "$T/a.yml" 2>/dev/null
check_exactly "$T/alerts.json" 11 30 "second run reads exactly the new lines"
"$WA" --once -c "$T/a.yml" 2>/dev/null
check_exactly "$T/alerts.json" 11 30 "a third run with nothing new adds nothing"

# a file created after the first run is read from its start
gen "$T/logs/new.log" 31 35
"$WA" --once -c "$T/a.yml" 2>/dev/null
check_exactly "$T/alerts.json" 11 35 "a new file is read whole"

# a partial line is held until its newline, across runs
printf 'Dec  1 10:00:00 host gen[1]: SEQ 3' >>"$T/logs/app.log"
"$WA" --once -c "$T/a.yml" 2>/dev/null
check_exactly "$T/alerts.json" 11 35 "a partial line is not read yet"
printf '6 tail\n' >>"$T/logs/app.log"
"$WA" --once -c "$T/a.yml" 2>/dev/null
check_exactly "$T/alerts.json" 11 36 "the completed line is read once, whole"

# an overlong line is cut at max_line, flagged and counted; the next line still arrives
write_config "$T/b.yml" "max_line: 1k"
{ printf 'Dec  1 10:00:00 host gen[1]: SEQ 37 '; head -c 300000 /dev/zero | tr '\0' 'y'; echo; } >>"$T/logs/app.log"
gen "$T/logs/app.log" 38 40
"$WA" --once -c "$T/b.yml" 2>/dev/null
check_exactly "$T/alerts.json" 11 40 "the lines after an overlong one arrive"
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless ($o->{ward}{extracted}{seq} // 0) == 37;
    print "len=" . length($o->{event}{original}) . " truncated=" . ($o->{ward}{truncated} ? 1 : 0) . "\n"' \
    "$T/alerts.json" >"$T/long"
expect_grep '^len=1024 truncated=1$' "$T/long" "the overlong line is cut at max_line and flagged"
expect_grep '"truncated":1' "$T/state/stats.json" "the cut line is counted in the stats"

# a line with more fields than an event holds (128): the fields past it are counted in
# the stats, and message (which rules on message look at) is still the line
mkdir -p "$T/wide"
perl -e 'print join(" ", map { "k$_=v$_" } 1 .. 200), " SEQ 1\n"' >"$T/wide/in.log"
printf 'agent: {state_dir: %s}\nrules: {paths: [tests/data/rules/agent]}\noutputs: {file: {path: %s}}\nsources: [{type: file, paths: [%s], start_at: beginning, decoder: kv}]\n' \
    "$T/wide" "$T/wide/alerts.json" "$T/wide/in.log" >"$T/wide/a.yml"
"$WA" --once -c "$T/wide/a.yml" 2>/dev/null || bad "--once over a wide kv line"
expect_grep '"fields_dropped":74,"records_fields_dropped":1' "$T/wide/stats.json" \
    "200 kv fields: the 74 that do not fit (127 slots, message kept) are counted"

# configuration errors name the file and line; --check exits 1
printf 'agent: {state_dir: %s}\nsources:\n  - type: file\n    pathz: [x]\noutputs: {stdout: true}\n' "$T/state" >"$T/bad.yml"
"$WA" --check -c "$T/bad.yml" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "--check of a bad configuration exits 1" || bad "--check exit code"
expect_grep "bad\.yml:4:[0-9]+: .*pathz" "$T/out" "unknown key named with file:line:col"
printf 'agent: {state_dir: %s}\nsources:\n  - type: file\noutputs: {stdout: true}\n' "$T/state" >"$T/bad3.yml"
"$WA" --check -c "$T/bad3.yml" >"$T/out" 2>&1
expect_grep "bad3\.yml:3:[0-9]+: .*file source needs 'paths'" "$T/out" "a file source without paths is refused"
# a syslog listen value and a multiline_start pattern are checked by --check, not only at start
printf 'agent: {state_dir: %s}\nrules: {paths: [tests/data/rules/agent]}\nsources:\n  - type: syslog\n    listen: "udp://127.0.0.1:99999"\n  - type: file\n    paths: [a]\n    multiline_start: "(unclosed"\noutputs: {stdout: true}\n' "$T/state" >"$T/bad4.yml"
"$WA" --check -c "$T/bad4.yml" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "--check refuses a bad listen port and a bad multiline_start" || bad "--check accepted a bad listen port or multiline_start"
expect_grep "bad4\.yml:4:[0-9]+: sources\[0\]: listen 'udp://127\.0\.0\.1:99999': the port must be a number from 1 to 65535" "$T/out" "the bad port is reported with its place"
expect_grep "bad4\.yml:6:[0-9]+: sources\[1\]: multiline_start '\(unclosed': .*missing closing parenthesis" "$T/out" "the bad pattern is reported with its place"
# a default name ("file-1": type and place) counts against the names given
printf 'agent: {state_dir: %s}\nrules: {paths: [tests/data/rules/agent]}\nsources:\n  - type: file\n    paths: [a]\n  - type: file\n    name: file-1\n    paths: [b]\noutputs: {stdout: true}\n' "$T/state" >"$T/dup.yml"
"$WA" --check -c "$T/dup.yml" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "--check refuses a name given to one source and by default to another" || bad "--check accepted two sources named file-1"
expect_grep "dup\.yml:1:[0-9]+: two sources are named 'file-1'" "$T/out" "the clash with a default name is reported"
printf 'agent: {state_dir: %s}\nrules: {paths: [%s]}\nsources: [{type: file, paths: [x]}]\noutputs: {stdout: true}\n' "$T/state" "$T/norules" >"$T/bad2.yml"
"$WA" --check -c "$T/bad2.yml" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "--check with missing rules exits 1" || bad "--check missing rules exit code"
expect_grep "norules: cannot open" "$T/out" "missing rules path is named"
"$WA" --frob >/dev/null 2>&1
[ $? -eq 2 ] && ok "unknown option exits 2" || bad "unknown option exit code"

# a damaged bookmark file is kept aside; files are read again from their start
printf 'ward-bookmarks 1\nfile\tlogs\tgarbage\n' >"$T/state/bookmarks"
: >"$T/alerts.json"
"$WA" --once -c "$T/a.yml" 2>"$T/err"
expect_grep 'bookmarks:2: bad file record \(3 fields\).*kept as .*bookmarks\.bad' "$T/err" "a damaged bookmark file is reported with its line"
[ -f "$T/state/bookmarks.bad" ] && ok "the damaged file is kept" || bad "no bookmarks.bad"
check_none_lost "$T/alerts.json" 1 40 "after a damaged bookmark file, everything is read again"
# a source's decoder setting reaches the decoder
for d in raw syslog fail2ban; do
    mkdir -p "$T/dec-$d"
    gen "$T/dec-$d/in.log" 1 1
    printf 'agent: {state_dir: %s}\nrules: {paths: [tests/data/rules/agent]}\noutputs: {file: {path: %s}}\nsources: [{type: file, paths: [%s], start_at: beginning, decoder: %s}]\n' \
        "$T/dec-$d" "$T/dec-$d/alerts.json" "$T/dec-$d/in.log" "$d" >"$T/dec-$d/a.yml"
    "$WA" --once -c "$T/dec-$d/a.yml" 2>/dev/null
    perl -MJSON::PP -ne 'print "decoder=" . decode_json($_)->{ward}{decoder} . "\n"' "$T/dec-$d/alerts.json" >"$T/dec-$d/got" 2>&1
    expect_grep "^decoder=$d\$" "$T/dec-$d/got" "decoder: $d decodes with $d"
done
# docs/agent.md holds the key table the program prints
"$WA" --help-config >"$T/keys"
awk '/^## Every key/ { on = 1; next } /^## / { on = 0 } on && /^\| `/' docs/agent.md >"$T/doc-keys"
grep '^| `' "$T/keys" | diff - "$T/doc-keys" >"$T/diff" && ok "docs/agent.md lists every key as --help-config does" || { bad "docs/agent.md is out of date"; cat "$T/diff"; }
finish

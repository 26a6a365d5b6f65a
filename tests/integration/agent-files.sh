#!/bin/bash
# File source details: a reused inode with other content, stat polling instead of inotify,
# a partial line read after partial_timeout, multiline events, a file rotated away while
# the agent was stopped, exclude patterns.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

L="$T/logs/app.log"

# --- inode reuse: a bookmark for this inode, but the first bytes are not the bookmarked
# file's: the file is new and is read from its start
write_config "$T/a.yml" "start_at: beginning"
gen "$L" 1 50
"$WA" --once -c "$T/a.yml" 2>/dev/null
check_exactly "$T/alerts.json" 1 50 "first read"
: >"$T/alerts.json"
# same inode, new content longer than the bookmarked offset (as after delete + create
# with a reused inode): the head hash tells them apart
perl -pe 's/SEQ (\d+)/"SEQ " . ($1 + 1000)/e' "$L" >"$T/new"
ino=$(stat -c %i "$L")
cat "$T/new" >"$L" # in place: the inode stays
gen "$L" 1051 1060
[ "$(stat -c %i "$L")" = "$ino" ] && ok "(same inode)" || bad "the inode changed"

"$WA" --once -c "$T/a.yml" 2>"$T/err"
check_exactly "$T/alerts.json" 1001 1060 "other content under a bookmarked inode is read from the start"
expect_grep 'its first bytes are not the bookmarked ones' "$T/err" "the agent says why it starts over"

# --- a file rotated away while the agent was stopped: found by its inode and finished
: >"$T/alerts.json"
gen "$L" 1061 1070
mv "$L" "$T/logs/app.log.1"
gen "$L" 1071 1080
"$WA" --once -c "$T/a.yml" 2>"$T/err"
check_exactly "$T/alerts.json" 1061 1080 "the rotated file is finished, the new one read"
expect_grep 'rotated from .*app\.log while stopped' "$T/err" "the rotated file is found by its inode"

# --- exclude
: >"$T/alerts.json"
write_config "$T/x.yml" "start_at: beginning" "exclude: ['*/skip*.log']"
gen "$T/logs/skip-me.log" 5001 5005
gen "$L" 1081 1082
"$WA" --once -c "$T/x.yml" 2>/dev/null
check_exactly "$T/alerts.json" 1081 1082 "excluded files are not read"
rm -f "$T/logs/skip-me.log"

# --- stat polling (no inotify) finds new lines, and a partial line is read after
# partial_timeout
rm -rf "$T/state" "$T/logs"
: >"$T/alerts.json"
write_config "$T/p.yml" "start_at: beginning" "poll: true" "partial_timeout: 300ms"
mkdir -p "$T/logs"
gen "$L" 1 20
start_agent "$T/p.yml"
wait_for_count "$T/alerts.json" 20 10 || bad "polling: first lines"
ls -l /proc/"$AGENT_PID"/fd | grep -q inotify && bad "poll: true still uses inotify" || ok "poll: true uses no inotify"
gen "$L" 21 40
wait_for_count "$T/alerts.json" 40 10 || bad "polling: new lines"
printf 'Dec  1 10:00:00 host gen[1]: SEQ 41 no newline' >>"$L"
wait_for_count "$T/alerts.json" 41 10 || bad "partial line not read after partial_timeout"
check_exactly "$T/alerts.json" 1 41 "polling and partial_timeout: every line once"
stop_agent

# --- thresholds count by the time written in the line: a back-fill of attempts hours
# apart does not fire a 3-within-1h rule; three within the hour do
rm -rf "$T/state" "$T/logs"
: >"$T/alerts.json"
write_config "$T/t.yml" "start_at: beginning"
mkdir -p "$T/logs"
{
    echo "2026-11-30T08:00:00+00:00 host gen[1]: BURST slow"
    echo "2026-11-30T10:00:00+00:00 host gen[1]: BURST slow"
    echo "Nov 30 12:00:00 host gen[1]: BURST slow"
    echo "2026-11-30T13:00:00.250+01:00 host gen[1]: BURST fast"
    echo "2026-11-30T12:10:00Z host gen[1]: BURST fast"
    echo "2026-11-30T12:59:00+00:00 host gen[1]: BURST fast"
} >"$L"
"$WA" --once -c "$T/t.yml" 2>/dev/null
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{rule}{id} eq "test-burst";
    print "who=$o->{ward}{threshold}{group}{who} start=$o->{event}{start} end=$o->{event}{end}\n"' "$T/alerts.json" >"$T/thr"
expect_grep '^who=fast start=2026-11-30T12:00:00.250Z end=2026-11-30T12:59:00.000Z$' "$T/thr" "three attempts within the hour fire, with their own times"
grep -q 'who=slow' "$T/thr" && bad "attempts hours apart fired in a back-fill" || ok "attempts hours apart do not fire in a back-fill"

# --- local times without a zone across a change of offset (Paris, 29 March 2026: 02:00
# CET becomes 03:00 CEST at 01:00 UTC); the third line is in the same minute as the
# second, so it takes the offset remembered from it
rm -rf "$T/state" "$T/logs"
: >"$T/alerts.json"
mkdir -p "$T/logs"
{
    echo "2026-03-29T01:59:10 host gen[1]: BURST dst"
    echo "2026-03-29T03:00:20 host gen[1]: BURST dst"
    echo "2026-03-29T03:00:50 host gen[1]: BURST dst"
} >"$L"
TZ=Europe/Paris "$WA" --once -c "$T/t.yml" 2>/dev/null
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{rule}{id} eq "test-burst";
    print "who=$o->{ward}{threshold}{group}{who} start=$o->{event}{start} end=$o->{event}{end}\n"' "$T/alerts.json" >"$T/thr"
expect_grep '^who=dst start=2026-03-29T00:59:10.000Z end=2026-03-29T01:00:50.000Z$' "$T/thr" "local times on both sides of a change to summer time"

# --- multiline: a line matching multiline_start begins an event, the others are added
rm -rf "$T/state" "$T/logs"
: >"$T/alerts.json"
write_config "$T/m.yml" "start_at: beginning" "multiline_start: '^\\d{4}-'" "multiline_timeout: 200ms"
mkdir -p "$T/logs"
{
    echo "2026-12-01 10:00:00 ERROR SEQ 1 boom"
    echo "java.lang.IllegalStateException: x"
    echo "    at a.b.C(C.java:1)"
    echo "2026-12-01 10:00:01 INFO SEQ 2 fine"
    echo "2026-12-01 10:00:02 ERROR SEQ 3 again"
    echo "    at d.e.F(F.java:2)"
} >"$L"
start_agent "$T/m.yml"
wait_for_count "$T/alerts.json" 3 10 || bad "multiline: events missing"
stop_agent
check_exactly "$T/alerts.json" 1 3 "multiline: three events"
perl -MJSON::PP -ne 'my $o = decode_json($_); my $n = () = $o->{event}{original} =~ /\n/g;
    print "seq=$o->{ward}{extracted}{seq} lines=" . ($n + 1) . "\n"' "$T/alerts.json" >"$T/ml"
expect_grep '^seq=1 lines=3$' "$T/ml" "the stack trace is part of its event"
expect_grep '^seq=2 lines=1$' "$T/ml" "a one-line event stays one line"
expect_grep '^seq=3 lines=2$' "$T/ml" "the last event is complete after multiline_timeout"

# --- a file that cannot be opened is reported once (every scan counts an error), and
# read once it can be. The agent runs without the capabilities that let root read
# anything, so that a file of mode 000 is refused to it (EACCES).
rm -rf "$T/state" "$T/logs" "$T/agent.log"
: >"$T/alerts.json"
write_config "$T/e.yml" "start_at: beginning"
mkdir -p "$T/logs"
gen "$T/logs/locked.log" 7001 7005
chmod 000 "$T/logs/locked.log"
gen "$L" 7006 7010
unpriv=()
[ "$(id -u)" -eq 0 ] && unpriv=(setpriv --bounding-set=-dac_override,-dac_read_search)
if "${unpriv[@]}" cat "$T/logs/locked.log" >/dev/null 2>&1; then
    ok "skipped: a file of mode 000 is readable here (cannot drop CAP_DAC_OVERRIDE)"
else
    "${unpriv[@]}" "$WA" --foreground -c "$T/e.yml" 2>>"$T/agent.log" &
    AGENT_PID=$!
    wait_for_count "$T/alerts.json" 5 10 || bad "unreadable file: the readable one was not read"
    sleep 1 # ten scans
    n=$(grep -c 'locked.log: cannot open' "$T/agent.log")
    [ "$n" -eq 1 ] && ok "a file that cannot be opened is reported once" || bad "reported $n times"
    chmod 644 "$T/logs/locked.log"
    wait_for_count "$T/alerts.json" 10 10 || bad "the file was not read once it could be opened"
    stop_agent
    check_exactly "$T/alerts.json" 7001 7010 "a file is read once it can be opened"
    perl -MJSON::PP -e 'local $/; open(my $i, "<", $ARGV[0]) or die; my $o = decode_json(<$i>);
        my ($s) = grep { $_->{name} eq "logs" } @{$o->{sources}}; print "errors=$s->{errors}\n"' \
        "$T/state/stats.json" >"$T/st"
    expect_grep '^errors=([5-9]|[1-9][0-9]+)$' "$T/st" "every scan that could not open it counts an error"
fi
finish

#!/bin/bash
# The durable spool: every alert in it exactly once and in order; kill -9 many times
# loses nothing and keeps the sequence numbers contiguous; a full spool holds the file
# source back until alerts are acknowledged, and loses nothing; when_full: drop counts
# the drops and says so in a ward.spool.dropped alert.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

# spool_config FILE DIR [spool settings] [outputs]: a config reading DIR/logs/*.log
spool_config() {
    local f=$1 d=$2 sp=$3 out=${4:-}
    mkdir -p "$d/state" "$d/logs"
    {
        echo "agent: {name: test-agent, state_dir: $d/state}"
        echo "rules: {paths: [tests/data/rules/agent]}"
        [ -n "$out" ] && echo "outputs: {file: {path: $out, fsync_interval: 20ms}}"
        echo "stats: {interval: 0}"
        echo "bookmark_interval: 50ms"
        echo "spool: {enabled: true, sync_interval: 20ms$sp}"
        echo "sources:"
        echo "  - {type: file, name: logs, paths: [\"$d/logs/*.log\"], scan_interval: 100ms, start_at: beginning}"
    } >"$f"
}

# dump DIR OUT: the spooled alerts, the payloads alone, one a line (and DIR's seqs in OUT.seq)
dump() {
    "$WA" spool-dump "$1" >"$2.raw" 2>"$2.err" || { bad "spool-dump $1 failed"; cat "$2.err"; }
    sed -E 's/^\{"seq":[0-9]+,"epoch":[0-9]+,"alert":(.*)\}$/\1/' "$2.raw" >"$2"
    sed -E 's/^\{"seq":([0-9]+),.*/\1/' "$2.raw" >"$2.seq"
}

# contiguous FILE: the numbers in FILE (one a line) are FIRST, FIRST+1, ... with no gap
contiguous() { perl -ne 'chomp; if (defined $p && $_ != $p + 1) { print "gap after $p: $_\n"; exit 1 } $p = $_;' "$1"; }

# stat_of STATSFILE PERL-EXPR: a figure from the stats file
stat_of() { perl -MJSON::PP -0777 -ne "my \$s = decode_json(\$_); print $2" "$1"; }

# start_wait CONFIG: starts the agent and waits until it has started (and handles signals)
start_wait() {
    local n
    n=$(grep -c 'info: started' "$T/agent.log" 2>/dev/null)
    start_agent "$1"
    for i in $(seq 1 100); do
        [ "$(grep -c 'info: started' "$T/agent.log" 2>/dev/null)" -gt "${n:-0}" ] && return 0
        sleep 0.05
    done
    bad "the agent did not start"
}

# bookmark_offset STATE: the offset saved for the file source
bookmark_offset() { awk -F'\t' '$1 == "file" { print $4 }' "$1/bookmarks" 2>/dev/null; }

# --- every alert exactly once, in order, the same bytes as in the alerts file
A="$T/a"
spool_config "$A/a.yml" "$A" "" "$A/alerts.json"
# without a privacy policy (the default leaves the original line out: docs/privacy.md)
echo "privacy: {send_original: true}" >>"$A/a.yml"
gen "$A/logs/app.log" 1 300
start_agent "$A/a.yml"
wait_for_count "$A/alerts.json" 300 20 || bad "the agent did not write 300 alerts"
gen "$A/logs/app.log" 301 400
wait_for_count "$A/alerts.json" 400 20 || bad "the agent did not write 400 alerts"
"$WA" spool-dump "$A/state/spool" >/dev/null 2>"$T/locked" && bad "spool-dump of a running agent's spool" ||
    expect_grep 'in use by another process' "$T/locked" "spool-dump refuses a spool in use"
stop_agent && ok "the agent stops cleanly" || bad "the agent exited $?"
dump "$A/state/spool" "$A/spooled"
check_exactly "$A/spooled" 1 400 "every alert is in the spool exactly once"
[ "$(seqs "$A/spooled" | tr '\n' ' ')" = "$(seq 1 400 | tr '\n' ' ')" ] && ok "in the order of the lines" || bad "not in order"
[ "$(head -1 "$A/spooled.seq")" = 1 ] && contiguous "$A/spooled.seq" && ok "spool sequence numbers 1.. without a gap" || bad "spool sequence numbers"
cmp -s "$A/spooled" "$A/alerts.json" && ok "the spool holds the bytes of the alerts file" || bad "the spool and the alerts file differ"
expect_grep '"appends":400' "$A/state/stats.json" "stats count the appends"
grep -q 'spool .*recovery cut 0 bytes' "$T/agent.log" && ok "the start logs the recovery figures" || bad "no recovery figures logged"
# a configuration with the spool as the only output is complete
printf 'agent: {state_dir: %s}\nrules: {paths: [tests/data/rules/agent]}\nspool: {enabled: true}\nsources: [{type: file, paths: [%s]}]\n' \
    "$A/state2" "$A/logs/app.log" >"$A/only.yml"
"$WA" --check -c "$A/only.yml" >/dev/null 2>&1 && ok "--check accepts the spool as the only output" || bad "--check refuses the spool as the only output"
printf 'agent: {state_dir: %s}\nrules: {paths: [tests/data/rules/agent]}\nspool: {enabled: true, when_full: later}\nsources: [{type: file, paths: [%s]}]\n' \
    "$A/state2" "$A/logs/app.log" >"$A/bad.yml"
"$WA" --check -c "$A/bad.yml" >/dev/null 2>"$T/bad.err"; expect_grep 'bad.yml:3.*when_full' "$T/bad.err" "a bad when_full is an error naming the line"
"$WA" spool-dump "$A/logs" >/dev/null 2>"$T/notspool" && bad "spool-dump of a directory that is not a spool" ||
    expect_grep 'logs/spool.meta: .*not a spool' "$T/notspool" "spool-dump refuses a directory that is not a spool"
[ -e "$A/logs/spool.meta" ] && bad "spool-dump made a spool of it" || ok "and leaves it as it was"
"$WA" spool-ack "$A/state/spool" 999999 2>"$T/ackfar" && bad "spool-ack beyond the spool accepted" ||
    expect_grep 'beyond the durable records' "$T/ackfar" "spool-ack beyond the spool is refused"
# a damaged meta file: the agent does not start, and says which file
cp "$A/state/spool/spool.meta" "$T/meta.good"
echo garbage >"$A/state/spool/spool.meta"
"$WA" --once -c "$A/a.yml" 2>"$T/meta.err" && bad "the agent started with a damaged spool.meta" ||
    expect_grep 'spool/spool.meta: not a spool meta file' "$T/meta.err" "a damaged spool.meta is an error naming it"
cp "$T/meta.good" "$A/state/spool/spool.meta"
# a torn tail (a crash in the middle of an append): cut, counted, and the agent goes on
seg=$(ls "$A/state/spool/"*.seg | tail -1)
printf '\0\0\1\0garbage' >>"$seg"
gen "$A/logs/app.log" 401 410
"$WA" --once -c "$A/a.yml" 2>"$T/torn.err" || bad "--once after a torn tail failed"
expect_grep 'recovery cut 11 bytes' "$T/torn.err" "the torn tail is cut and logged"
expect_grep '"torn_bytes":11' "$A/state/stats.json" "and counted in stats"
dump "$A/state/spool" "$A/spooled"
check_exactly "$A/spooled" 1 410 "after the torn tail, the spool goes on"

# --- a failed fdatasync of a segment stops the agent, names the file, moves no bookmark
F="$T/f"
spool_config "$F/a.yml" "$F" ""
gen "$F/logs/app.log" 1 20
cc -shared -fPIC -O2 -o "$T/failsync.so" tests/integration/lib/failsync.c || bad "cannot build the fsync shim"
# the sanitizers' runtime must come first; with a preloaded library it does not
WARD_FAIL_FSYNC=.seg LD_PRELOAD="$T/failsync.so" ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    "$WA" --once -c "$F/a.yml" 2>"$F/sync.err"
rc=$?
[ $rc = 1 ] && ok "a failed fdatasync of the spool: exit 1" || bad "a failed fdatasync of the spool: exit $rc"
expect_grep 'spool/00000000000000000001\.seg: fdatasync: Input/output error.*agent stops' "$F/sync.err" "the message names the segment file"
[ -z "$(bookmark_offset "$F/state")" ] && ok "no bookmark was written" || bad "a bookmark moved: $(bookmark_offset "$F/state")"
"$WA" --once -c "$F/a.yml" 2>>"$F/sync.err" || bad "the next start failed"
dump "$F/state/spool" "$F/spooled"
check_none_lost "$F/spooled" 1 20 "the next start spools them again"

# --- kill -9, many times, while the log grows
K="$T/k"
spool_config "$K/a.yml" "$K" "" "$K/alerts.json"
N=4000
perl -e 'use Time::HiRes qw(usleep); my ($f, $n) = @ARGV; open(my $o, ">>", $f) or die;
         select((select($o), $| = 1)[0]);
         for my $i (1 .. $n) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n"; usleep(2000) if $i % 10 == 0; }' \
    "$K/logs/app.log" "$N" &
WRITER=$!
RANDOM=7
rounds=0
while [ $rounds -lt 20 ]; do
    start_agent "$K/a.yml"
    sleep "0.$((RANDOM % 3 + 1))$((RANDOM % 10))"
    kill9_agent
    rounds=$((rounds + 1))
done
wait "$WRITER"
start_agent "$K/a.yml"
i=0
while [ "$(distinct_count "$K/alerts.json")" -lt "$N" ] && [ $i -lt 100 ]; do sleep 0.2; i=$((i + 1)); done
stop_agent || bad "the agent did not stop cleanly after the crashes"
dump "$K/state/spool" "$K/spooled"
check_none_lost "$K/spooled" 1 "$N" "after $rounds kill -9 every alert is in the spool"
[ "$(head -1 "$K/spooled.seq")" = 1 ] && contiguous "$K/spooled.seq" && ok "spool sequence numbers contiguous after the crashes ($(wc -l <"$K/spooled.seq") records)" ||
    bad "spool sequence numbers not contiguous after the crashes"
dups=$(($(wc -l <"$K/spooled") - N))
echo "alerts spooled twice (work repeated after a crash): $dups"
[ "$dups" -lt $((rounds * 1500)) ] && ok "duplicates bounded ($dups)" || bad "too many duplicates: $dups"

# --- a full spool holds the source back; after acknowledgements the rest arrives
C="$T/c"
spool_config "$C/a.yml" "$C" ", max_size: 64k, segment_size: 4k"
gen "$C/logs/app.log" 1 400
size=$(stat -c %s "$C/logs/app.log")
start_wait "$C/a.yml"
held=0
for i in $(seq 1 100); do
    kill -USR1 "$AGENT_PID"
    sleep 0.1
    held=$(stat_of "$C/state/stats.json" '$s->{spool}{held}' 2>/dev/null || echo 0)
    [ "${held:-0}" -ge 1 ] && break
done
[ "${held:-0}" -ge 1 ] && ok "the full spool holds the source (stats spool.held $held)" || bad "the spool never held the source"
b1=$(bookmark_offset "$C/state")
sleep 1
b2=$(bookmark_offset "$C/state")
[ "${b1:-0}" = "${b2:-0}" ] && [ "${b2:-0}" -lt "$size" ] && ok "the bookmark waits (${b2:-none} of $size bytes)" || bad "the bookmark moved while held: $b1 -> $b2 of $size"
spool_bytes=$(stat_of "$C/state/stats.json" '$s->{spool}{bytes}')
[ "$spool_bytes" -le 65536 ] && ok "the spool stays under its cap ($spool_bytes bytes)" || bad "the spool is over its cap: $spool_bytes"
grep -q 'spool .* is full' "$T/agent.log" && ok "holding is logged" || bad "holding is not logged"
stop_agent && ok "a held agent stops cleanly" || bad "a held agent exited $?"
: >"$C/all"
rounds=0
while [ $rounds -lt 30 ]; do
    dump "$C/state/spool" "$C/part"
    cat "$C/part" >>"$C/all"
    cat "$C/part.seq" >>"$C/all.seq"
    last=$(tail -1 "$C/part.seq")
    # the collector's part, done by hand: acknowledge what was taken
    [ -n "$last" ] && { "$WA" spool-ack "$C/state/spool" "$last" 2>/dev/null || bad "spool-ack $last failed"; }
    [ "$(bookmark_offset "$C/state")" = "$size" ] && break
    start_wait "$C/a.yml"
    for i in $(seq 1 100); do
        sleep 0.1
        [ "$(bookmark_offset "$C/state")" = "$size" ] && break
        kill -USR1 "$AGENT_PID"
        [ "$(stat_of "$C/state/stats.json" '$s->{spool}{held}' 2>/dev/null)" = 1 ] && break
    done
    stop_agent || bad "the agent exited $?"
    rounds=$((rounds + 1))
done
[ $rounds -ge 3 ] && ok "the alerts came in $rounds rounds of acknowledgements" || bad "only $rounds rounds: the cap did not hold"
check_none_lost "$C/all" 1 400 "a full spool loses nothing"
contiguous "$C/all.seq" && ok "sequence numbers contiguous across acknowledgements" || bad "sequence numbers with a gap"
expect_grep '"acked_seq":' "$C/state/stats.json" "stats show what was acknowledged"

# --- when_full: drop counts the drops and reports them in an alert of its own
D="$T/d"
spool_config "$D/a.yml" "$D" ", max_size: 64k, segment_size: 4k, when_full: drop"
gen "$D/logs/app.log" 1 400
"$WA" --once -c "$D/a.yml" 2>"$T/drop.err" || bad "--once with when_full: drop failed"
dropped=$(stat_of "$D/state/stats.json" '$s->{spool}{dropped}')
appends=$(stat_of "$D/state/stats.json" '$s->{spool}{appends}')
[ "$dropped" -gt 0 ] && [ $((dropped + appends)) -eq 400 ] && ok "drops counted: $dropped dropped + $appends spooled = 400" ||
    bad "drops: $dropped dropped, $appends spooled"
[ "$(bookmark_offset "$D/state")" = "$(stat -c %s "$D/logs/app.log")" ] && ok "with drop, the source is not held" || bad "with drop, the source was held"
[ -f "$D/state/spool-dropped" ] && ok "the unreported drops are kept for the next start" || bad "no spool-dropped file"
dump "$D/state/spool" "$D/part"
last=$(tail -1 "$D/part.seq")
"$WA" spool-ack "$D/state/spool" "$last" 2>/dev/null || bad "spool-ack failed"
# the agent, started again with room and nothing new to read, reports the drops
start_wait "$D/a.yml"
for i in $(seq 1 100); do [ -f "$D/state/spool-dropped" ] || break; sleep 0.05; done
stop_agent || bad "the agent exited $?"
[ -f "$D/state/spool-dropped" ] && bad "the running agent did not report the drops" ||
    ok "the running agent reports the drops, with no new alert to make it"
gen "$D/logs/app.log" 401 402
"$WA" --once -c "$D/a.yml" 2>"$T/drop2.err" || bad "the second --once failed"
dump "$D/state/spool" "$D/part2"
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{rule}{id} eq "ward.spool.dropped";
    print "level=$o->{ward}{level} dropped=$o->{ward}{extracted}{dropped}\n"' "$D/part2" >"$D/report"
expect_grep "^level=high dropped=$dropped\$" "$D/report" "a ward.spool.dropped alert (level high) reports the $dropped drops"
[ "$(wc -l <"$D/report")" = 1 ] && ok "once" || bad "$(wc -l <"$D/report") reports"
check_exactly "$D/part2" 401 402 "and the alerts after it are spooled"
[ -f "$D/state/spool-dropped" ] && bad "spool-dropped is still there after the report" || ok "the report clears spool-dropped"
# --- run as root on a spool that is another user's, the tools become that user first: the
# spool.meta that spool-ack replaces stays the owner's (a root-owned 0600 one would lock the
# agent, running as its user, out of its spool)
chmod o+x "$T"
O="$T/owned"
cp -a "$D/state/spool" "$O" && chown -R nobody:nogroup "$O"
"$WA" spool-ack "$O" "$(tail -1 "$D/part2.seq")" 2>"$T/ownack" || {
    bad "spool-ack as root on nobody's spool failed"
    cat "$T/ownack"
}
left=$(find "$O" ! -user nobody)
[ -z "$left" ] && ok "spool-ack run as root acted as the spool's owner: every file is still nobody's" ||
    bad "not nobody's after spool-ack as root: $left"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$WA" spool-dump "$O" >"$T/owndump" 2>&1 &&
    expect_grep 'acknowledged up to' "$T/owndump" "and its owner reads it afterwards" ||
    { bad "its owner cannot read it"; cat "$T/owndump"; }
# --- syslog over TCP cannot be read again: with the spool full, its alerts wait in memory,
# and at a stop they are kept in spool-pending and go into the spool at the next start
S="$T/s"
mkdir -p "$S/state"
started=
for try in 1 2 3 4 5; do
    P=$((20000 + RANDOM % 40000))
    {
        echo "agent: {name: test-agent, state_dir: $S/state}"
        echo "rules: {paths: [tests/data/rules/agent]}"
        echo "stats: {interval: 0}"
        echo "spool: {enabled: true, sync_interval: 20ms, max_size: 64k, segment_size: 4k}"
        echo "sources: [{type: syslog, name: net, listen: \"tcp://127.0.0.1:$P\"}]"
    } >"$S/a.yml"
    n0=$(grep -c 'cannot listen' "$T/agent.log" 2>/dev/null)
    start_agent "$S/a.yml"
    for i in $(seq 1 100); do
        grep -q "receiving syslog over tcp on 127.0.0.1:$P" "$T/agent.log" && { started=1; break; }
        kill -0 "$AGENT_PID" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$started" ] && break
    kill9_agent
done
if [ -n "$started" ]; then
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$ARGV[0]") or die "connect: $!";
        my $b = ""; $b .= "<13>Dec  1 10:00:00 host gen[1]: SEQ $_\n" for 1 .. 400; print $s $b; close $s' "$P"
    # the alerts of the messages read wait in memory; once the spool is full the TCP
    # source also stops reading (back-pressure: the rest stays with the sender's TCP)
    last_r=-1 same=0
    for i in $(seq 1 100); do
        kill -USR1 "$AGENT_PID"
        sleep 0.05
        r=$(stat_of "$S/state/stats.json" '$s->{sources}[0]{records}' 2>/dev/null)
        [ "${r:-0}" = 400 ] && break
        if [ "${r:-0}" = "$last_r" ]; then same=$((same + 1)); [ $same -ge 5 ] && break; else same=0; fi
        last_r=${r:-0}
    done
    waiting=$(stat_of "$S/state/stats.json" '$s->{spool}{waiting_in_memory}')
    holds=$(stat_of "$S/state/stats.json" '$s->{sources}[0]{backlog_holds}' 2>/dev/null)
    [ "${r:-0}" -gt 0 ] && [ "$waiting" -gt 0 ] && ok "syslog: $waiting alerts of $r messages read wait in memory for room" ||
        bad "syslog: $r records read, $waiting alerts waiting"
    [ "${r:-0}" = 400 ] || { [ "${holds:-0}" -gt 0 ] && ok "syslog: reading held back with the spool full ($r of 400 read)" ||
        bad "syslog: $r of 400 read but no backlog hold counted"; }
    stop_agent || bad "the syslog agent exited $?"
    [ -s "$S/state/spool-pending" ] && ok "at the stop they are kept in spool-pending" || bad "no spool-pending"
    : >"$S/all"
    for round in 1 2 3 4 5 6 7 8; do
        dump "$S/state/spool" "$S/part"
        cat "$S/part" >>"$S/all"
        last=$(tail -1 "$S/part.seq")
        [ -n "$last" ] && "$WA" spool-ack "$S/state/spool" "$last" 2>/dev/null
        [ -f "$S/state/spool-pending" ] || break
        "$WA" --once -c "$S/a.yml" 2>>"$T/agent.log" || bad "--once with spool-pending exited $?"
    done
    check_exactly "$S/all" 1 "$r" "syslog: with the spool full, no alert of a message read is lost"
else
    bad "the syslog agent did not start"
fi

# (the ASan+UBSan run) no sanitizer report from any run
if grep -l 'Sanitizer\|runtime error:' "$T/agent.log" "$T"/*.err "$T"/*/*.err 2>/dev/null; then bad "sanitizer report"; else ok "no sanitizer report"; fi
finish

#!/bin/bash
# Gaps an epoch could never close, with a real collector over real TLS: the collector
# refuses a batch that starts beyond what it has stored, so an agent whose collector lost
# what the spool released, or whose spool lost its meta, would be refused for ever. The
# agent starts a new epoch instead and everything it still holds is stored once:
# - spool.meta removed while alerts wait: the new epoch starts at the first kept record;
# - the collector's store replaced by an empty one (a restore, another collector): the
#   agent sees it has stored less than the spool released and starts a new epoch there;
# - spool-ack by hand beyond the collector: the same.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"
. "$(dirname "$0")/collector_lib.bash"
. "$(dirname "$0")/ship_lib.bash"
P=$(free_port)
CFG="$T/c.yml"
write_coll_config "$CFG"
sed -i "s/127.0.0.1:0/127.0.0.1:$P/" "$CFG"
start_collector "$CFG" || finish
A="$T/a1.yml"
ship_config a1 "$A"
"$WA" keygen -c "$A" >/dev/null 2>&1 || bad "keygen"
enroll() { "$WC" -c "$CFG" enroll --org council-a --agent a1 --pubkey "$T/a1/state/agent.pub" >/dev/null || bad "enroll"; }
enroll
SP="$T/a1/state/spool"
epoch_of() { sed -n 's/^epoch //p' "$SP/spool.meta"; }
stat_ship() { perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; my $s = decode_json(<$f>);
    print $s->{collector}{$ARGV[1]} // "none"' "$T/a1/state/stats.json" "$1"; }

gen "$T/a1/logs/app.log" 1 100
start_agent "$A"
wait_stored a1 100 || bad "the first 100 alerts did not arrive"
check_stored a1 1 100 "100 alerts stored"

# --- spool.meta removed while alerts wait for the collector
stop_collector
gen "$T/a1/logs/app.log" 101 200
wait_for_count "$T/a1/alerts.json" 200 || bad "the agent did not alert on 101..200"
sleep 0.3 # the spool's group commit
stop_agent || bad "the agent's exit status"
e1=$(epoch_of)
rm "$SP/spool.meta"
: >"$T/agent.log"
start_collector "$CFG" || finish
start_agent "$A"
wait_stored a1 200 20 && ok "spool.meta removed: the alerts waiting reach the collector under a new epoch" ||
    bad "spool.meta removed: $(stored a1 | wc -l) of 200 stored"
check_stored a1 1 200 "and every alert is stored exactly once"
e2=$(epoch_of)
[ -n "$e2" ] && [ "$e2" != "$e1" ] && ok "the meta made again has a new epoch" || bad "epoch $e1 -> $e2"
grep -q '^base [1-9][0-9]*$' "$SP/spool.meta" && ok "and the base of its numbering (the first kept record is its seq 1)" ||
    bad "no base in the new meta: $(cat "$SP/spool.meta")"
expect_grep 'spool.meta was missing and is made again' "$T/agent.log" "the agent says the meta was made again"
grep -q 'sequence gap' "$T/agent.log" "$T/coll.log" && bad "a gap was refused" || ok "no gap was refused"

# --- the collector's store replaced by an empty one (a restore, another collector)
# the spool releases what the collector acknowledged at the next ACK: make one
gen "$T/a1/logs/app.log" 201 210
wait_stored a1 210 20 || bad "201..210 did not arrive"
sleep 0.3
stop_agent || bad "the agent's exit status"
acked=$(sed -n 's/^acked //p' "$SP/spool.meta")
base=$(sed -n 's/^base //p' "$SP/spool.meta")
[ "$acked" -gt "$base" ] && ok "the spool released what the collector stored (acked $acked, base $base)" ||
    bad "the spool released nothing (acked $acked, base $base)"
stop_collector
mv "$T/cs/collector.db" "$T/old.db"
rm -f "$T/cs/collector.db-wal" "$T/cs/collector.db-shm"
enroll
gen "$T/a1/logs/app.log" 211 250
: >"$T/agent.log"
start_collector "$CFG" || finish
start_agent "$A"
wait_for_count "$T/a1/alerts.json" 250 || bad "the agent did not alert on 211..250"
wait_stored a1 40 20 && ok "an empty store: the alerts the spool holds reach it" ||
    { bad "an empty store: $(stored a1 | wc -l) of 40 stored"; cat "$T/agent.log"; }
check_stored a1 211 250 "exactly once"
n=$(stored a1 | awk '$1 <= 200' | wc -l)
[ "$n" -eq 0 ] && ok "none of what the spool had released (and the old store has) is sent" || bad "$n of 1..200 were sent again"
expect_grep 'has stored up to spool seq [0-9]+ but the spool released up to [0-9]+.*a new epoch [0-9]+ starts' "$T/agent.log" \
    "the agent says why it starts a new epoch"
e3=$(epoch_of)
[ "$e3" != "$e2" ] && ok "a new epoch ($e3)" || bad "the epoch stayed $e2"
grep -q 'sequence gap' "$T/agent.log" && bad "a gap was refused" || ok "no gap was refused"
kill -USR1 "$AGENT_PID"
wait_log '"epochs_started"' "$T/a1/state/stats.json"
[ "$(stat_ship epochs_started)" = 1 ] && [ "$(stat_ship gaps)" = 1 ] &&
    ok "the stats count the gap and the epoch started for it" ||
    bad "stats: gaps $(stat_ship gaps), epochs_started $(stat_ship epochs_started)"

# --- alerts acknowledged by hand beyond the collector (spool-ack with the agent stopped)
stop_agent || bad "the agent's exit status"
stop_collector
gen "$T/a1/logs/app.log" 251 300
"$WA" --once -c "$A" 2>/dev/null || bad "--once"
last=$("$WA" spool-dump "$SP" 2>/dev/null | perl -MJSON::PP -ne 'my $o = decode_json($_);
    print "$o->{seq}\n" if ($o->{alert}{ward}{extracted}{seq} // "") eq "275"' | head -1)
[ -n "$last" ] && "$WA" spool-ack "$SP" "$last" 2>/dev/null || bad "spool-ack up to the alert of line 275 ($last)"
: >"$T/agent.log"
start_collector "$CFG" || finish
start_agent "$A"
i=0
while [ $i -lt 100 ] && [ "$(stored a1 | awk '$1 >= 276' | wc -l)" -lt 25 ]; do sleep 0.2; i=$((i + 1)); done
[ "$(stored a1 | awk '$1 >= 276' | wc -l)" -ge 25 ] && ok "after a spool-ack beyond the collector, what the spool holds still arrives" ||
    { bad "after spool-ack: 276..300 did not arrive"; cat "$T/agent.log"; }
check_stored a1 276 300 "276..300 stored exactly once"
n=$(stored a1 | awk '$1 >= 251 && $1 <= 275' | wc -l)
[ "$n" -eq 0 ] && ok "251..275, acknowledged by hand, are not sent" || bad "$n of 251..275 were sent"
stop_agent || bad "the agent's exit status"
stop_collector
grep -q 'Sanitizer' "$T/agent.log" "$T/coll.log" && bad "sanitizer report" || ok "no sanitizer report"
finish

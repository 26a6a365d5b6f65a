#!/bin/bash
# Group commit: the batches of every connection read in one turn of the collector's loop
# are stored in one transaction and acknowledged after its commit. Twenty agents flood
# (collector-load, eight batches in flight each) while, at the same time, one agent
# replays a batch and another sends a gap: every flood batch is acknowledged and stored
# once, the replay is acknowledged and not stored again, the gap alone is refused, and
# there were fewer commits than transactions (batches of several connections shared one).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/collector_lib.bash"

LOAD="$B/collector-load"
CFG="$T/c.yml"
write_coll_config "$CFG"
"$LOAD" keygen "$T" 20 || bad "collector-load keygen"
for i in $(seq 1 20); do
    "$WC" -c "$CFG" enroll --org "org$((i % 2))" --agent "a$i" --pubkey "$T/k$i.pub" >/dev/null || bad "enroll a$i"
done
"$WCL" --keygen "$T/r.key" "$T/r.pub" && "$WCL" --keygen "$T/g.key" "$T/g.pub" || bad keygen
"$WC" -c "$CFG" enroll --org org0 --agent replayer --pubkey "$T/r.pub" >/dev/null || bad enroll
"$WC" -c "$CFG" enroll --org org1 --agent gapper --pubkey "$T/g.pub" >/dev/null || bad enroll
gen_alerts "$T/a.json" 50 198.51.100.7
gen_alerts "$T/r.json" 3 198.51.100.8
start_collector "$CFG" || finish

# the replayer stores seq 1..3 first, so that its replay below is one
client "$T/r.key" --epoch 7 hello batch 1 "$T/r.json" >"$T/r0" 2>&1
expect_grep '^ACK epoch=7 acked=3' "$T/r0" "the replayer's first batch is stored"

"$LOAD" run --connect "127.0.0.1:$PORT" --ca "$T/cs/tls/ca.pem" --keys "$T" --agents 20 \
    --batches 6 --alerts "$T/a.json" >"$T/load" 2>&1 &
load=$!
client "$T/r.key" --epoch 7 hello batch 1 "$T/r.json" batch 1 "$T/r.json" >"$T/r1" 2>&1 &
rp=$!
client "$T/g.key" --epoch 7 hello batch 5 "$T/r.json" >"$T/g1" 2>&1 &
gp=$!
wait "$load"
lrc=$?
wait "$rp" "$gp"
[ "$lrc" -eq 0 ] && expect_grep '^LOAD alerts=6000 batches=120 ' "$T/load" "every flood batch of 20 agents is acknowledged" || { bad "collector-load exit status $lrc"; cat "$T/load"; }
[ "$(grep -c '^ACK epoch=7 acked=3' "$T/r1")" -eq 2 ] && ok "the replayed batches are acknowledged with what is stored" || { bad "replay answers"; cat "$T/r1"; }
expect_grep '^ERROR code=8 ' "$T/g1" "the gap is refused"
n=$("$WC" -c "$CFG" query --json | wc -l)
[ "$n" -eq 6003 ] && ok "every alert is stored exactly once (6003)" || bad "$n alerts stored, not 6003"
expect_stat daemon.alerts_stored 6003 "the stats count 6003 alerts stored"
expect_stat daemon.rejected.gap 1 "one gap is counted"
tx=$(coll_stat daemon.transactions)
commits=$(coll_stat daemon.commits)
[ "$commits" -ge 1 ] && [ "$commits" -lt "$tx" ] && ok "batches of several connections shared a commit ($commits commits, $tx transactions)" || bad "$commits commits for $tx transactions"
stop_collector
no_sanitizer_report "$T/coll.log" "the collector"
no_sanitizer_report "$T/load" "collector-load"
finish

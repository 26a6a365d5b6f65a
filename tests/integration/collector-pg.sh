#!/bin/bash
# Two collectors share one PostgreSQL database (a real server, started here): an agent
# that moves from one to the other resumes where it was acknowledged, a replay to the
# second is not stored again, and an address that two councils reported to different
# collectors becomes a regional indicator that both push to their agents.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/collector_lib.bash"

PG=$(sh tests/lib/pg.sh start $$) || { bad "PostgreSQL did not start"; finish; }
ok "a PostgreSQL server runs"
for n in 1 2; do
    write_coll_config "$T/c$n.yml" \
        "store: {type: postgresql, conninfo: \"$PG\"}" \
        "region: {min_orgs: 2, interval: 100ms, allow: [\"192.0.2.0/24\"]}"
    sed -i "s|state_dir: $T/cs,|state_dir: $T/cs$n,|" "$T/c$n.yml"
done
CFG="$T/c1.yml"
"$WC" -c "$CFG" --check >"$T/out" 2>&1 && ok "--check accepts a postgresql store" || { bad "--check"; cat "$T/out"; }
for k in a1 b1; do "$WCL" --keygen "$T/$k.key" "$T/$k.pub" || bad "keygen $k"; done
"$WC" -c "$T/c1.yml" enroll --org council-a --agent a1 --pubkey "$T/a1.pub" >/dev/null || bad "enroll a1"
"$WC" -c "$T/c2.yml" enroll --org council-b --agent b1 --pubkey "$T/b1.pub" >/dev/null || bad "enroll b1 through the other collector"
"$WC" -c "$T/c1.yml" list >"$T/out" 2>&1
expect_grep '^council-b +b1 ' "$T/out" "both collectors see one registry"

start_collector "$T/c1.yml" "$T/coll1.log" || finish
P1=$PORT PID1=$COLL_PID
start_collector "$T/c2.yml" "$T/coll2.log" || finish
P2=$PORT PID2=$COLL_PID

gen_alerts "$T/a1.json" 5 203.0.113.50 r-ssh high
gen_alerts "$T/a2.json" 5 192.0.2.9 r-ssh high
gen_alerts "$T/b.json" 3 203.0.113.50 r-web medium
PORT=$P1 CS=$T/cs1 client "$T/a1.key" hello batch 1 "$T/a1.json" >"$T/s1" 2>&1
expect_grep '^ACK epoch=1 acked=5$' "$T/s1" "collector 1 stores a1's first batch"
PORT=$P2 CS=$T/cs2 client "$T/a1.key" hello batch 1 "$T/a1.json" batch 6 "$T/a2.json" >"$T/s2" 2>&1
expect_grep '^WELCOME epoch=1 acked=5$' "$T/s2" "collector 2 knows what collector 1 stored"
expect_grep '^ACK epoch=1 acked=5$' "$T/s2" "the replay to collector 2 is acknowledged"
expect_grep '^ACK epoch=1 acked=10$' "$T/s2" "and the next batch stored"
n=$("$WC" -c "$T/c1.yml" query --json | wc -l)
[ "$n" -eq 10 ] && ok "10 alerts are stored once each across two collectors" || bad "query gives $n alerts, not 10"

# a1 waits on collector 1 for the feed; b1 reports the same address to collector 2
PORT=$P1 CS=$T/cs1 client "$T/a1.key" --feed-pub "$T/cs1/feed.pub" --timeout 10000 hello feed-get 0 wait-feed >"$T/pushed" 2>&1 &
waiter=$!
sleep 0.3
PORT=$P2 CS=$T/cs2 client "$T/b1.key" hello batch 1 "$T/b.json" >"$T/s3" 2>&1
expect_grep '^ACK epoch=1 acked=3$' "$T/s3" "collector 2 stores b1's batch"
wait "$waiter"
expect_grep '^ENTRY 203\.0\.113\.50 src_ip 2 ' "$T/pushed" "collector 1 pushes the indicator that collector 2 correlated"
grep -q '192\.0\.2\.9' "$T/pushed" && bad "an allow-listed address was pushed" || ok "the allow-listed address is not pushed"
"$WC" -c "$T/c1.yml" feed --format list >"$T/list" 2>&1
[ "$(cat "$T/list")" = "203.0.113.50" ] && ok "feed --format list through collector 1" || { bad "feed list"; cat "$T/list"; }
"$WC" -c "$T/c1.yml" stats >"$T/out" 2>&1
expect_grep '"store":\{"type":"postgresql"' "$T/out" "stats names the postgresql store"

stop_collector "$PID1"
stop_collector "$PID2"
no_sanitizer_report "$T/coll1.log" "collector 1"
no_sanitizer_report "$T/coll2.log" "collector 2"
finish

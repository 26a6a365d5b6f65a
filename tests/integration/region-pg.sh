#!/bin/bash
# The agents' suite on PostgreSQL, with two collectors sharing one database (a real
# server, started here) and one demo CA and feed key: three agents in two organisations
# (council-a: a1, a2; council-b: b1), some on each collector. Every alert is stored
# exactly once and both collectors' queries give the same set; an agent moved from
# collector 1 to collector 2 resends nothing; collector 1 killed with -9 while its agent
# keeps producing, then restarted: everything arrives once; agents killed with -9 while
# sending, several times: nothing lost, nothing stored twice; an address both councils
# alerted on (through collector 2) becomes a regional indicator, and the agent on
# collector 1 raises ward.regional on its first line with it; an allow-listed one never.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"
. "$(dirname "$0")/collector_lib.bash"
. "$(dirname "$0")/ship_lib.bash"

PG=$(sh tests/lib/pg.sh start $$) || { bad "PostgreSQL did not start"; finish; }
P1=$(free_port)
P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
for n in 1 2; do
    write_coll_config "$T/c$n.yml" \
        "store: {type: postgresql, conninfo: \"$PG\"}" \
        "region: {min_orgs: 2, window: 1h, interval: 100ms, allow: [\"192.0.2.0/24\"]}"
    eval "p=\$P$n"
    sed -i "s|state_dir: $T/cs,|state_dir: $T/cs$n,|; s/127.0.0.1:0/127.0.0.1:$p/" "$T/c$n.yml"
done
start_collector "$T/c1.yml" "$T/coll1.log" || finish
C1=$COLL_PID
# collector 2: the certificate of collector 1's demo CA and the same feed-signing key
echo "tls: {cert: $T/cs1/tls/server.pem, key: $T/cs1/tls/server.key}" >>"$T/c2.yml"
mkdir -m 0700 "$T/cs2"
cp -p "$T/cs1/feed.key" "$T/cs1/feed.pub" "$T/cs2/"
start_collector "$T/c2.yml" "$T/coll2.log" || finish
C2=$COLL_PID
[ "$PORT" = "$P2" ] && ok "two collectors on one PostgreSQL database, ports $P1 and $P2" || bad "collector 2 on $PORT"

# a1 and b1 on collector 1, a2 on collector 2
CS=$T/cs1
for n in a1 b1 a2; do
    [ $n = a2 ] && P=$P2 || P=$P1
    ship_config $n "$T/$n.yml"
    "$WA" keygen -c "$T/$n.yml" >/dev/null 2>&1 || bad "keygen $n"
done
"$WC" -c "$T/c1.yml" enroll --org council-a --agent a1 --pubkey "$T/a1/state/agent.pub" >/dev/null || bad "enroll a1"
"$WC" -c "$T/c2.yml" enroll --org council-a --agent a2 --pubkey "$T/a2/state/agent.pub" >/dev/null || bad "enroll a2"
"$WC" -c "$T/c1.yml" enroll --org council-b --agent b1 --pubkey "$T/b1/state/agent.pub" >/dev/null || bad "enroll b1"

# same_everywhere WHAT: both collectors' queries give the same alerts
same_everywhere() {
    CFG=$T/c1.yml stored_all >"$T/q1"
    CFG=$T/c2.yml stored_all >"$T/q2"
    if [ -s "$T/q1" ] && cmp -s "$T/q1" "$T/q2"; then ok "$1 ($(wc -l <"$T/q1") alerts)"; else bad "$1"; fi
}
stored_all() { "$WC" -c "$CFG" query --json 2>/dev/null | perl -MJSON::PP -ne '
    my $o = decode_json($_); print "$o->{agent} $o->{seq} $o->{alert}{event}{id}\n"' | sort; }

# ---- exactly once, through either collector ----
CFG=$T/c1.yml
for n in a1 a2 b1; do
    gen "$T/$n/logs/app.log" 1 1000
    run_bg PID_$n "$T/$n.yml" "$T/$n.log"
done
wait_total 3000 || bad "not all of the first 3000 alerts arrived"
for n in a1 a2 b1; do
    check_stored $n 1 1000 "$n: 1000 alerts stored exactly once"
done
same_everywhere "query --json through collector 1 and collector 2 gives the same alerts"
expect_grep 'connected to collector 127\.0\.0\.1:'"$P2" "$T/a2.log" "a2 ships to collector 2"

# ---- b1 moves from collector 1 to collector 2 ----
stop_bg "$PID_b1" b1
sed -i "s/127.0.0.1:$P1/127.0.0.1:$P2/" "$T/b1.yml"
gen "$T/b1/logs/app.log" 1001 2000
replays() { STATS_CFG=$T/c2.yml coll_stat daemon.alerts_replayed; }
kill -USR1 "$C2"
sleep 0.3
r0=$(replays)
run_bg PID_b1 "$T/b1.yml" "$T/b1.log"
wait_total 4000 || bad "not all of b1's alerts arrived after its move"
check_stored b1 1 2000 "b1 moved to collector 2: 2000 alerts stored exactly once"
expect_grep 'connected to collector 127\.0\.0\.1:'"$P2" "$T/b1.log" "b1 now ships to collector 2"
kill -USR1 "$C2" # the stats file now
sleep 0.3
[ "$(replays)" = "$r0" ] && ok "collector 2 saw nothing of b1's again (alerts_replayed stays $r0)" || bad "b1 resent alerts after its move: alerts_replayed $r0 -> $(replays)"

# ---- collector 1 killed with -9 while a1 keeps producing ----
slow_gen "$T/a1/logs/app.log" 1001 4000 10000 & # 1.5 s
W=$!
PIDS="$PIDS $W"
sleep 0.3
kill -9 "$C1"
wait "$C1" 2>/dev/null
COLL_PIDS=${COLL_PIDS/ $C1/}
sleep 1
start_collector "$T/c1.yml" "$T/coll1.log" || finish
C1=$COLL_PID
wait "$W"
PIDS=${PIDS/ $W/}
wait_total 7000 || bad "not everything of a1's arrived after collector 1 came back"
check_stored a1 1 4000 "collector 1 killed -9 and restarted: a1's 4000 alerts stored exactly once"
expect_grep 'reconnecting in' "$T/a1.log" "a1 logged the broken connection and its backoff"

# ---- a1 (collector 1) and b1 (collector 2) killed with -9 while sending ----
slow_gen "$T/a1/logs/app.log" 4001 8000 8000 &
W1=$!
slow_gen "$T/b1/logs/app.log" 2001 6000 8000 &
W2=$!
PIDS="$PIDS $W1 $W2"
RANDOM=11
rounds=0
while [ $rounds -lt 6 ]; do
    kill9_bg "$PID_a1"
    run_bg PID_a1 "$T/a1.yml" "$T/a1.log"
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    kill9_bg "$PID_b1"
    run_bg PID_b1 "$T/b1.yml" "$T/b1.log"
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    rounds=$((rounds + 1))
done
wait "$W1" "$W2"
PIDS=${PIDS/ $W1/}
PIDS=${PIDS/ $W2/}
ok "$rounds rounds of kill -9 of a1 and b1 while sending"
wait_total 15000 60 || bad "not all of a1's and b1's alerts arrived after the crashes"
check_stored a1 1 8000 "a1 after $rounds kill -9: 8000 alerts stored exactly once"
check_stored b1 1 6000 "b1 after $rounds kill -9: 6000 alerts stored exactly once"
same_everywhere "both collectors still give the same alerts"

# ---- the regional feed across collectors ----
# council-a (a2) and council-b (b1), both on collector 2, see the same attacker and an
# allow-listed gateway; a1, on collector 1, must get the indicator
ssh_fail "$T/a2/logs/app.log" root 203.0.113.7
ssh_fail "$T/a2/logs/app.log" root 192.0.2.5
ssh_fail "$T/b1/logs/app.log" admin 203.0.113.7
ssh_fail "$T/b1/logs/app.log" admin 192.0.2.5
wait_log 'feed version [0-9]* from 127\.0\.0\.1:'"$P1"' loaded: 1 indicators' "$T/a1.log" 100
expect_grep 'feed version [0-9]* from 127\.0\.0\.1:'"$P1"' loaded: 1 indicators' "$T/a1.log" "a1 loads the indicator from collector 1"
L="$T/a1/logs/web.log"
web_line "$L" 192.0.2.5 0
web_line "$L" 203.0.113.7 a
web_line "$L" 203.0.113.7 b
regional "$T/a1/alerts.json" >"$T/regional"
[ "$(wc -l <"$T/regional")" = 1 ] && ok "one ward.regional alert at a1" || { bad "ward.regional alerts:"; cat "$T/regional"; }
expect_grep '^203\.0\.113\.7 src_ip 2 test-ssh-fail high a id$' "$T/regional" "ward.regional on a1's first line with the address both councils saw"
grep -q '192\.0\.2\.5' "$T/regional" && bad "an allow-listed address raised ward.regional" || ok "the allow-listed address does not"
"$WC" -c "$T/c1.yml" feed --format list >"$T/list" 2>&1
[ "$(cat "$T/list")" = "203.0.113.7" ] && ok "the feed has only the attacker's address" || { bad "feed list"; cat "$T/list"; }

for n in a1 a2 b1; do
    eval "stop_bg \"\$PID_$n\" $n"
    no_sanitizer_report "$T/$n.log" "ward-agent $n"
done
stop_collector "$C1"
stop_collector "$C2"
no_sanitizer_report "$T/coll1.log" "collector 1"
no_sanitizer_report "$T/coll2.log" "collector 2"
finish

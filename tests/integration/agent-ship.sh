#!/bin/bash
# Agents shipping to a real ward-collector over real TLS (the collector's demo CA):
# keygen + enroll; every alert stored exactly once; the collector stopped for a while as
# alerts keep coming, then restarted: everything arrives, no duplicates; the agent killed
# with -9 while sending, many times: nothing lost, no duplicates stored; an address two
# organisations alerted on becomes a feed indicator and a third agent raises ward.regional
# on its first line with it (once); an allow-listed address never does.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"
. "$(dirname "$0")/collector_lib.bash"
. "$(dirname "$0")/ship_lib.bash"
# a fixed port, so that the collector comes back where the agents expect it
P=$(free_port)
CFG="$T/c.yml"
write_coll_config "$CFG" "region: {min_orgs: 2, window: 1h, interval: 100ms, allow: [\"192.0.2.0/24\"]}"
sed -i "s/127.0.0.1:0/127.0.0.1:$P/" "$CFG"
start_collector "$CFG" || finish
[ "$PORT" = "$P" ] && ok "the collector listens on 127.0.0.1:$P" || bad "collector port $PORT, not $P"

# ---- keygen, enrolment, exactly once ----
A="$T/a1.yml"
ship_config a1 "$A"
"$WA" keygen -c "$A" >"$T/keygen" 2>&1 && ok "keygen" || { bad "keygen"; cat "$T/keygen"; }
expect_grep "ward-collector enroll --org ORG --agent a1 --pubkey $T/a1/state/agent.pub" "$T/keygen" "keygen prints the enrol command"
expect_grep '^fingerprint: [0-9a-f]{64}$' "$T/keygen" "keygen prints the fingerprint"
[ "$(stat -c %a "$T/a1/state/agent.key")" = 600 ] && ok "agent.key is mode 0600" || bad "agent.key mode"
"$WA" keygen -c "$A" >"$T/keygen2" 2>&1 && bad "a second keygen overwrote the key" || ok "a second keygen refuses to overwrite"
"$WC" -c "$CFG" enroll --org council-a --agent a1 --pubkey "$T/a1/state/agent.pub" >/dev/null || bad "enroll a1"

"$WA" --check -c "$A" >"$T/check" 2>&1 && ok "--check passes with the key made" || { bad "--check"; cat "$T/check"; }
chmod 0640 "$T/a1/state/agent.key"
"$WA" --check -c "$A" >"$T/check" 2>&1 && bad "--check passed with a group-readable key" || expect_grep "collector.key: $T/a1/state/agent.key" "$T/check" "--check refuses a group-readable key, naming it"
"$WA" --foreground -c "$A" 2>"$T/open-key.log" && bad "started with a group-readable key"
expect_grep "$T/a1/state/agent.key" "$T/open-key.log" "a group-readable private key is refused, naming the file"
chmod 0600 "$T/a1/state/agent.key"

gen "$T/a1/logs/app.log" 1 2000
start_agent "$A"
wait_stored a1 2000 || bad "not all of the first 2000 alerts arrived"
check_stored a1 1 2000 "2000 alerts stored exactly once"
stored a1 >/dev/null
"$WC" -c "$CFG" query --json 2>/dev/null | head -1 >"$T/one"
grep -q '"original"' "$T/one" && bad "the original line was sent (privacy.send_original is false)" || ok "the original line is not sent by default"
grep -q '"original"' "$T/a1/alerts.json" && ok "the local alerts file keeps the original line" || bad "the local file lost event.original"

# ---- a reload keeps shipping; the collector goes away while alerts keep coming ----
kill -HUP "$AGENT_PID"
wait_log 'reloaded:' "$T/agent.log"
expect_grep 'reloaded:' "$T/agent.log" "SIGHUP reloads the agent"
stop_collector
gen "$T/a1/logs/app.log" 2001 3000
sleep 1
gen "$T/a1/logs/app.log" 3001 4000
sleep 0.5
start_collector "$CFG" || finish
wait_stored a1 4000 || bad "not everything arrived after the collector came back"
check_stored a1 1 4000 "after the collector's absence, 4000 alerts stored exactly once"
expect_grep 'reconnecting in' "$T/agent.log" "the agent logged the failures and its backoff"

# ---- kill -9 while sending, many times ----
N=12000
slow_gen "$T/a1/logs/app.log" 4001 "$N" &
WRITER=$!
PIDS="$WRITER"
RANDOM=7
rounds=0
while [ $rounds -lt 15 ]; do
    kill9_agent
    start_agent "$A"
    sleep "0.$((RANDOM % 3))$((RANDOM % 10))"
    rounds=$((rounds + 1))
done
kill9_agent
wait "$WRITER"
PIDS=
ok "$rounds kill -9 rounds while sending"
start_agent "$A"
wait_stored a1 "$N" 60 || bad "not everything arrived after the crashes"
check_stored a1 1 "$N" "after $rounds kill -9, $N alerts stored exactly once"
stop_agent || bad "the agent's exit status"
no_sanitizer_report "$T/agent.log" ward-agent

# ---- the regional feed ----
B="$T/b1.yml"
C="$T/c1.yml"
# b1 pseudonymises user names; c1 starts before it is enrolled
ship_config b1 "$B" "privacy: {pseudonymise: [user], key: $T/b1/state/privacy.key}"
ship_config c1 "$C"
sed -i '/server_name/d' "$C" # the certificate is checked against the address, 127.0.0.1
for n in b1 c1; do "$WA" keygen -c "$T/$n.yml" >/dev/null 2>&1 || bad "keygen $n"; done
"$WA" keygen --privacy -c "$B" >/dev/null 2>&1 || bad "keygen --privacy"
"$WC" -c "$CFG" enroll --org council-b --agent b1 --pubkey "$T/b1/state/agent.pub" >/dev/null || bad "enroll b1"
run_bg C_PID "$C" "$T/c1.log"
wait_log "refuses this agent's key" "$T/c1.log"
expect_grep "refuses this agent's key \(.*fingerprint [0-9a-f]{64}\)" "$T/c1.log" "an agent not enrolled is told so, with its fingerprint"
"$WC" -c "$CFG" enroll --org council-c --agent c1 --pubkey "$T/c1/state/agent.pub" >/dev/null || bad "enroll c1"
: >"$T/agent.log"
ssh_fail "$T/a1/logs/app.log" root 203.0.113.7
ssh_fail "$T/a1/logs/app.log" root 192.0.2.5
start_agent "$A"
run_bg B_PID "$B" "$T/b1.log"
ssh_fail "$T/b1/logs/app.log" admin 203.0.113.7
ssh_fail "$T/b1/logs/app.log" admin 192.0.2.5
wait_log 'feed version [0-9]* from .* loaded: 1 indicators' "$T/c1.log" 100
expect_grep 'feed version [0-9]* from .* loaded: 1 indicators' "$T/c1.log" "the third agent loads the signed feed"
L="$T/c1/logs/web.log"
web_line "$L" 203.0.113.70 0
web_line "$L" 192.0.2.5 0
web_line "$L" 203.0.113.7 a
web_line "$L" 203.0.113.7 b
regional "$T/c1/alerts.json" >"$T/regional"
[ "$(wc -l <"$T/regional")" = 1 ] && ok "one ward.regional alert (first occurrence only)" || { bad "ward.regional alerts:"; cat "$T/regional"; }
expect_grep '^203\.0\.113\.7 src_ip 2 test-ssh-fail high a id$' "$T/regional" "ward.regional names the indicator, its field, orgs, rules and regional id, on the first line with it"
grep -q '192\.0\.2\.5\|203\.0\.113\.70' "$T/regional" && bad "an allow-listed or longer address raised ward.regional" || ok "an allow-listed address and a longer one do not"
wait_stored c1 1 10 && ok "the ward.regional alert is shipped to the collector too" || bad "ward.regional not stored"
expect_grep 'connected to collector' "$T/c1.log" "once enrolled, the agent connects (within backoff_max)"
"$WC" -c "$CFG" query --json 2>/dev/null | grep '"agent":"b1"' >"$T/b1.stored"
grep -q '"user":"admin"' "$T/b1.stored" && bad "b1 sent a user name in clear" || ok "a pseudonymised field is not sent in clear"
expect_grep '"user":"hmac:[0-9a-f]{32}"' "$T/b1.stored" "it is sent as a keyed pseudonym"
expect_grep '"user":"admin"' "$T/b1/alerts.json" "the local alerts file keeps the user name"
stop_bg "$C_PID" c1
stop_bg "$B_PID" b1
# a feed that does not verify (b1 now trusts another key) is refused and not used
sed -i "s|feed_key: .*|feed_key: $T/a1/state/agent.pub|" "$B"
run_bg B_PID "$B" "$T/b1-bad.log"
wait_log "feed from 127.0.0.1:$P refused" "$T/b1-bad.log"
expect_grep "feed from $T/b1/state/feed refused: .*the feed loaded \\(version 0\\) is kept" "$T/b1-bad.log" "the kept feed no longer verifies: refused at start"
expect_grep "feed from 127\\.0\\.0\\.1:$P refused" "$T/b1-bad.log" "the collector's feed does not verify: refused"
web_line "$T/b1/logs/app.log" 203.0.113.7 c
sleep 0.5
grep -q '"ward.regional"' "$T/b1/alerts.json" && bad "an unverified feed raised ward.regional" || ok "an unverified feed raises nothing"
stop_bg "$B_PID" b1
# a revoked key is told so, counted by code, and waits backoff_max between attempts
"$WC" -c "$CFG" revoke --agent b1 >/dev/null || bad "revoke b1"
run_bg B_PID "$B" "$T/b1-rev.log"
sleep 1.2
stop_bg "$B_PID" b1
expect_grep "refuses this agent's key \\(revoked agent key" "$T/b1-rev.log" "a revoked key is told so"
n=$(grep -c 'collector error 4 (revoked agent key)' "$T/b1-rev.log")
[ "$n" -ge 2 ] && [ "$n" -le 4 ] && ok "then it retries every backoff_max (500 ms): $n attempts in 1.2 s" || bad "$n refused attempts in 1.2 s"
stat_of() { perl -MJSON::PP -0777 -ne "my \$s = decode_json(\$_); print $2" "$1"; }
[ "$(stat_of "$T/b1/state/stats.json" '$s->{collector}{errors}{"revoked agent key"}')" = "$n" ] && ok "stats count the errors by code" || bad "stats: errors by code"
[ "$(stat_of "$T/b1/state/stats.json" '$s->{collector}{connected} ? 1 : 0')" = 0 ] && ok "stats: not connected" || bad "stats: connected"
expect_grep '"last_error":"collector error 4 \(revoked agent key\)' "$T/b1/state/stats.json" "stats: the last error"
stop_agent || bad "the agent's exit status"

# a certificate for another name is refused (verification is on)
D="$T/d1.yml"
ship_config d1 "$D"
sed -i 's/server_name: localhost/server_name: collector.elsewhere.example/' "$D"
"$WA" keygen -c "$D" >/dev/null 2>&1 || bad "keygen d1"
run_bg D_PID "$D" "$T/d1.log"
wait_log 'TLS handshake' "$T/d1.log"
expect_grep 'TLS handshake: .*reconnecting in' "$T/d1.log" "a collector certificate for another name is refused"
grep -q 'connected to collector' "$T/d1.log" && bad "connected despite the wrong name" || ok "no connection with a wrong certificate name"
stop_bg "$D_PID" d1
# insecure_skip_verify: the handshake passes whatever the name, and the agent says so loudly
echo "  insecure_skip_verify: true" >>"$D" # the collector map is the last of the file
run_bg D_PID "$D" "$T/d1.log"
wait_log "refuses this agent's key" "$T/d1.log"
expect_grep 'warning: collector.insecure_skip_verify is on: .*NOT verified' "$T/d1.log" "insecure_skip_verify is logged as a warning"
expect_grep "refuses this agent's key" "$T/d1.log" "with it, the wrong name passes the handshake (and the unknown key is refused)"
stop_bg "$D_PID" d1
for f in "$T/agent.log" "$T/b1.log" "$T/b1-bad.log" "$T/b1-rev.log" "$T/c1.log" "$T/d1.log"; do no_sanitizer_report "$f" ward-agent; done
stop_collector
no_sanitizer_report "$T/coll.log" ward-collector
finish

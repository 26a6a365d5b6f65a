#!/bin/bash
# The collector's limits and its life: connections over limits.max_connections are
# refused and counted, a silent connection is closed after limits.idle_timeout, a peer
# that does not speak TLS is counted, SIGHUP applies a good configuration and keeps the
# running one when the new one has errors; docs/collector.md lists every key.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/collector_lib.bash"

# docs/collector.md holds the key table the program prints
"$WC" --help-config >"$T/keys"
awk '/^## Every key/ { on = 1; next } /^## / { on = 0 } on && /^\| `/' docs/collector.md >"$T/doc-keys"
grep '^| `' "$T/keys" | diff - "$T/doc-keys" >"$T/diff" && ok "docs/collector.md lists every key as --help-config does" || { bad "docs/collector.md is out of date"; cat "$T/diff"; }

# every command has its --help; an unknown one is a usage error
for c in enroll revoke list query stats feed keygen; do
    "$WC" "$c" --help >"$T/help" 2>&1 && grep -q "^usage: ward-collector $c" "$T/help" || bad "$c --help"
done
ok "every command answers --help"
"$WC" frobnicate >"$T/out" 2>&1
[ $? -eq 2 ] && expect_grep "unknown command 'frobnicate'" "$T/out" "an unknown command is a usage error"

# a state directory that cannot be made: named, exit 1
printf 'collector: {state_dir: /proc/ward-nope, listen: "127.0.0.1:0"}\n' >"$T/nostate.yml"
"$WC" -c "$T/nostate.yml" >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && expect_grep 'error: /proc/ward-nope: cannot create' "$T/out" "a state directory that cannot be made is named, exit 1" || bad "exit status $rc without a state directory"

CFG="$T/c.yml"
write_coll_config "$CFG" "limits: {max_connections: 1, idle_timeout: 1s}"
"$WCL" --keygen "$T/a1.key" "$T/a1.pub" || bad keygen
"$WC" -c "$CFG" enroll --org council-a --agent a1 --pubkey "$T/a1.pub" >/dev/null || bad enroll
start_collector "$CFG" || finish

# one connection is the limit: a second one is closed at once
client "$T/a1.key" hello sleep 1500 >"$T/first" 2>&1 &
first=$!
sleep 0.5
client "$T/a1.key" hello >"$T/second" 2>&1
grep -q '^WELCOME' "$T/second" && bad "a connection over max_connections was served" || ok "a connection over max_connections is not served"
wait "$first"
expect_grep '^WELCOME' "$T/first" "the first connection was served"
expect_stat daemon.connections.refused 1 "the refused connection is counted"
expect_grep 'refused: 1 connections is limits.max_connections' "$T/coll.log" "the refusal is logged with the peer"

# idle: HELLO, then silence for longer than idle_timeout; the next batch finds it closed
sleep 0.5
gen_alerts "$T/one.json" 1 203.0.113.1
client "$T/a1.key" hello sleep 2500 batch 1 "$T/one.json" >"$T/idle" 2>&1
grep -q '^ACK' "$T/idle" && bad "an idle connection was kept" || ok "an idle connection is closed"
expect_stat daemon.connections.idle_closed 1 "the idle close is counted"
expect_grep '127\.0\.0\.1:[0-9]+ \(agent council-a/a1, key [0-9a-f]{16}\): idle for' "$T/coll.log" "the idle close is logged with the peer and agent"

# not TLS at all
perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new("127.0.0.1:$ARGV[0]") or die; print $s "GET / HTTP/1.0\r\n\r\n"; my $b; sysread($s, $b, 100); close $s' "$PORT"
expect_stat daemon.connections.tls_failures 1 "a peer that does not speak TLS is counted"
expect_grep '127\.0\.0\.1:[0-9]+: TLS handshake failed' "$T/coll.log" "the TLS failure is logged with the peer"

# SIGHUP: a broken configuration is refused, the running one kept
cp "$CFG" "$T/good.yml"
STATS_CFG="$T/good.yml" # the commands read a good one
echo "bogus_key: 1" >>"$CFG"
kill -HUP "$COLL_PID"
expect_stat daemon.reload_failures 1 "a broken reload is counted"
expect_grep "$CFG:[0-9]+:[0-9]+: .*bogus_key" "$T/coll.log" "the reload error names file and line"
client "$T/a1.key" hello batch 1 "$T/one.json" >"$T/after" 2>&1
expect_grep '^ACK epoch=1 acked=1$' "$T/after" "the collector still serves after a broken reload"
# a good one with another listen address: applied, except the listener
write_coll_config "$CFG" "limits: {max_connections: 10, idle_timeout: 1s}" "retention_days: 30"
sed -i 's/127.0.0.1:0/127.0.0.1:1/' "$CFG"
kill -HUP "$COLL_PID"
expect_stat daemon.reloads 1 "a good reload is counted"
expect_grep 'take effect at the next start' "$T/coll.log" "a new listen address waits for a restart, and says so"
client "$T/a1.key" hello sleep 300 >"$T/h1" 2>&1 &
h1=$!
sleep 0.1
client "$T/a1.key" hello batch 2 "$T/one.json" >"$T/h2" 2>&1
wait "$h1"
expect_grep '^ACK epoch=1 acked=2$' "$T/h2" "the new max_connections applies at once"

# a certificate that does not load: said, and the running one serves on
write_coll_config "$CFG" "limits: {max_connections: 10, idle_timeout: 1s}" "tls: {cert: $T/none.pem, key: $T/none.key}"
kill -HUP "$COLL_PID"
expect_stat daemon.reloads 2 "the reload with a missing certificate is applied"
expect_grep "tls: .*none\\.(pem|key).*: the running certificate is kept" "$T/coll.log" "a certificate that does not load is named, the running one kept"
client "$T/a1.key" hello batch 3 "$T/one.json" >"$T/h3" 2>&1
expect_grep '^ACK epoch=1 acked=3$' "$T/h3" "new connections still get the running certificate"

kill -USR1 "$COLL_PID"
sleep 0.3
expect_grep '"reloads":2' "$T/cs/stats.json" "SIGUSR1 writes the stats file"
stop_collector
no_sanitizer_report "$T/coll.log" ward-collector

# --- out of descriptors: the collector says so, pauses accepting (no busy loop), and
# serves again once connections close
rm -rf "$T/cs"
write_coll_config "$CFG" "limits: {max_connections: 100}"
"$WC" -c "$CFG" enroll --org council-a --agent a1 --pubkey "$T/a1.pub" >/dev/null || bad enroll
# ASan's runtime wants descriptors of its own
lim=40
[ -n "${WARD_SANITIZE:-}" ] && lim=60
(ulimit -n $lim && exec "$WC" -c "$CFG") 2>>"$T/fd.log" &
COLL_PID=$!
COLL_PIDS="$COLL_PIDS $COLL_PID"
i=0
PORT=
while [ -z "$PORT" ] && [ $i -lt 100 ]; do
    sleep 0.05
    PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/fd.log" 2>/dev/null)
    i=$((i + 1))
done
expect_grep "open files limited to $lim \(hard limit\)" "$T/fd.log" "a descriptor limit below max_connections is said"
pids=
for i in $(seq 1 $((lim + 10))); do
    client "$T/a1.key" --timeout 8000 hello sleep 5000 >/dev/null 2>&1 &
    pids="$pids $!"
done
# the clients hold their connections 5 s; on a loaded machine (or under ASan) they take
# a while to start: wait for the collector to run out, at most 5 s
for i in $(seq 1 50); do
    grep -q 'accept: Too many open files' "$T/fd.log" && break
    sleep 0.1
done
expect_grep 'accept: Too many open files \([0-9]+ connections\): accepting again in 100 ms' "$T/fd.log" "running out of descriptors is logged"
wait $pids
client "$T/a1.key" hello >"$T/fd-after" 2>&1
expect_grep '^WELCOME' "$T/fd-after" "once connections closed, the collector serves again"
cpu=$(STATS_CFG="$CFG" coll_stat daemon.cpu_ms)
[ "$cpu" != none ] && [ "$cpu" -lt 1500 ] && ok "no busy loop while out of descriptors (${cpu} ms CPU)" || bad "CPU ${cpu} ms while out of descriptors"
stop_collector
no_sanitizer_report "$T/fd.log" ward-collector
finish

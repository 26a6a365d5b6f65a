#!/bin/bash
# ward-agent with the fail2ban decoder on a syslog source: a date inside the line leaves
# an f2b.line that is not a part of the line, and the source adds fields of its own
# (peer, transport). A rule whose literal is only in f2b.line (across the join) still
# alerts: the agent's scan buffer keeps what the decoder put in its own.
. "$(dirname "$0")/lib.bash"
WA="$B/ward-agent"
PID=
cleanup() {
    if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT

mkdir -p "$T/state" "$T/rules"
cat >"$T/rules/joined.yml" <<'R'
title: Joined f2b.line
id: it-f2b-joined
level: low
detection: {sel: {f2b.line|contains: '[] "GET /wp-login.php'}, condition: sel}
R
started=
for try in 1 2 3 4 5 6; do
    P=$((20000 + RANDOM % 40000))
    cat >"$T/agent.yml" <<C
agent: {name: f2b-syslog-test, state_dir: $T/state}
rules: {paths: [$T/rules]}
outputs: {file: {path: $T/alerts.json, fsync_interval: 20ms}}
stats: {interval: 0}
sources:
  - type: syslog
    name: net
    listen: "udp://127.0.0.1:$P"
    decoder: fail2ban
C
    : >"$T/agent.log"
    "$WA" --foreground -c "$T/agent.yml" 2>"$T/agent.log" &
    PID=$!
    i=0
    while [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null && ! grep -q 'info: started' "$T/agent.log"; do
        sleep 0.05
        i=$((i + 1))
    done
    if grep -q 'info: started' "$T/agent.log"; then started=1; break; fi
    wait "$PID" 2>/dev/null
    PID=
    grep -q 'cannot listen' "$T/agent.log" || break
done
if [ -n "$started" ]; then ok "agent listens on udp $P"; else bad "agent did not start"; cat "$T/agent.log"; finish; fi

python3 - "$P" <<'PY'
import socket, sys
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b'198.51.100.7 - - [31/Oct/2006:09:22:55 -0000] "GET /wp-login.php HTTP/1.1" 401 5',
         ("127.0.0.1", int(sys.argv[1])))
PY
i=0
while [ $i -lt 100 ] && ! grep -q 'it-f2b-joined' "$T/alerts.json" 2>/dev/null; do
    sleep 0.05
    i=$((i + 1))
done
expect_grep '"it-f2b-joined"' "$T/alerts.json" "a rule on the joined f2b.line alerts on a syslog source"
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ "$rc" -eq 0 ] && ok "exit 0 on SIGTERM" || bad "exit $rc on SIGTERM"
if grep -q 'Sanitizer' "$T/agent.log"; then bad "sanitizer report"; head -20 "$T/agent.log"; fi
finish

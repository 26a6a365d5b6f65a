#!/bin/bash
# ward-agent receiving syslog from the network: RFC 3164 and RFC 5424 datagrams; TCP with
# LF framing and with octet counting, cut across writes anywhere; an overlong message cut
# and counted; a framing error closing its connection; connections over the per-peer
# limit refused and counted; an idle connection closed; the TCP rate limit slowing a
# sender without losing anything; the UDP rate limit dropping and counting; kernel drops
# counted; stats on SIGUSR1; a prompt exit 0 on SIGTERM; bad listen values refused by the
# configuration check with their file and line; a full disk (output buffer full): TCP not
# read until the alerts are written, UDP dropped and counted.
. "$(dirname "$0")/lib.bash"
WA="$B/ward-agent"
PID=
BG=
cleanup() {
    for p in $BG; do kill "$p" 2>/dev/null; done
    if [ -n "$PID" ]; then kill -CONT "$PID" 2>/dev/null; kill -9 "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT

# ---- the sender: python3, standard library only ----
cat >"$T/send.py" <<'EOF'
import os, socket, sys, time
H = "127.0.0.1"

def tcp(port):
    s = socket.create_connection((H, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

def writes(s, *parts):
    for p in parts:
        s.sendall(p)
        time.sleep(0.03)  # separate segments, so the agent reads them apart

def line(user, n=1):
    return b"<38>Dec 10 06:55:48 fw01 sshd[%d]: Invalid user %s from 198.51.100.%d" % (n, user, n)

def octet(m):
    return b"%d %s" % (len(m), m)

cmd, port = sys.argv[1], int(sys.argv[2])
if cmd == "udp":
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for d in [b"<38>Dec 10 06:55:48 fw01 sshd[24200]: Failed password for root from 112.95.230.3 port 41090 ssh2\n",
              b"<38>1 2026-12-01T10:00:00.003Z fw02 sshd 811 - - Invalid user admin from 203.0.113.9",
              b"", b"\r\n"]:
        u.sendto(d, (H, port))
elif cmd == "tcp-lf":
    s = tcp(port)
    l3 = line(b"lf3", 3) + b"\r\n"
    writes(s, line(b"lf1", 1) + b"\n" + line(b"lf2", 2) + b"\r\n\n", l3[:20], l3[20:])
    s.close()
elif cmd == "tcp-octet":
    s = tcp(port)
    m4 = octet(line(b"oc4", 4))
    writes(s, octet(line(b"oc1", 1)) + octet(line(b"oc2", 2)) + octet(line(b"oc3", 3)),
           m4[:1], m4[1:30], m4[30:])
    s.close()
elif cmd == "tcp-long":
    s = tcp(port)
    writes(s, b"<38>Dec 10 06:55:48 fw01 sshd[9]: Failed password for longuser from 198.51.100.9 port 22 ssh2 "
           + b"x" * 3000 + b"\n", line(b"afterlong", 10) + b"\n")
    s.close()
elif cmd == "tcp-bad":
    s = tcp(port)
    writes(s, octet(line(b"beforebad", 11)) + b"12a not a count\n" + octet(line(b"afterbad", 12)))
    time.sleep(0.2)
    s.close()
elif cmd == "tcp-conns":
    # four connections from one address, one after the other; the limit is two
    conns = []
    for i in range(1, 5):
        c = tcp(port)
        time.sleep(0.05)
        try:
            c.sendall(line(b"conn%d" % i, 20 + i) + b"\n")
        except OSError:
            pass
        conns.append(c)
    release = sys.argv[3]
    for _ in range(200):
        if os.path.exists(release):
            break
        time.sleep(0.05)
    for c in conns:
        c.close()
elif cmd == "tcp-idle":
    s = tcp(port)
    s.settimeout(8)
    try:
        got = s.recv(1)  # the agent closes it: b"" (or a reset)
    except OSError:
        pass
    s.close()
elif cmd == "tcp-burst":
    n = int(sys.argv[3])
    s = tcp(port)
    s.sendall(b"".join(b"<38>Dec 10 06:55:48 fw01 app[1]: burst %d\n" % i for i in range(n)))
    s.close()
elif cmd == "tcp-users":
    # n messages that each give an alert: users u0 .. u(n-1)
    n = int(sys.argv[3])
    s = tcp(port)
    s.sendall(b"".join(line(b"u%d" % i) + b"\n" for i in range(n)))
    s.close()
elif cmd == "udp-users":
    first, n = int(sys.argv[3]), int(sys.argv[4])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(first, first + n):
        u.sendto(line(b"d%d" % i), (H, port))
        time.sleep(0.001)
elif cmd == "udp-burst":
    n, size = int(sys.argv[3]), int(sys.argv[4])
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(n):
        u.sendto((b"<38>Dec 10 06:55:48 fw01 app[1]: udp burst %d " % i).ljust(size, b"y"), (H, port))
EOF
send() { python3 "$T/send.py" "$@"; }

# src_stat SOURCE EXPR: evaluates EXPR (python, the source's stats object is s) on the stats file
src_stat() {
    python3 - "$T/state/stats.json" "$1" "$2" <<'EOF'
import json, sys
try:
    o = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(1)
s = next((x for x in o["sources"] if x["name"] == sys.argv[2]), None)
sys.exit(0 if s is not None and eval(sys.argv[3]) else 1)
EOF
}
# wait_stat SOURCE EXPR [TRIES]: asks for the stats (SIGUSR1) until EXPR holds, TRIES
# times (default 60: about 6 s)
wait_stat() {
    local i=0
    while [ $i -lt "${3:-60}" ]; do
        rm -f "$T/state/stats.json"
        kill -USR1 "$PID"
        local j=0
        while [ ! -f "$T/state/stats.json" ] && [ $j -lt 50 ]; do sleep 0.01; j=$((j + 1)); done
        src_stat "$1" "$2" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
# wait_users USER...: until an alert for each user (ward.extracted.user) arrived, up to 6 s
wait_users() {
    local i=0
    while [ $i -lt 120 ]; do
        [ -f "$T/alerts.json" ] && python3 - "$T/alerts.json" "$@" <<'EOF' && return 0
import json, sys
users = {json.loads(l)["ward"].get("extracted", {}).get("user") for l in open(sys.argv[1])}
sys.exit(0 if set(sys.argv[2:]) <= users else 1)
EOF
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}
# check WHAT SOURCE EXPR
check() { if src_stat "$2" "$3"; then ok "$1"; else bad "$1 ($3)"; python3 -c "import json,sys; print([x for x in json.load(open(sys.argv[1]))['sources'] if x['name']==sys.argv[2]])" "$T/state/stats.json" "$2" | sed 's/^/    /'; fi; }

# ---- start the agent on free ports (chosen at random; another try when one is taken) ----
mkdir -p "$T/state"
started=
for try in 1 2 3 4 5 6; do
    UP=$((20000 + RANDOM % 40000))
    TP=$((20000 + RANDOM % 40000))
    [ "$UP" -ne "$TP" ] || continue
    cat >"$T/agent.yml" <<EOF
agent: {name: syslog-test, state_dir: $T/state}
rules: {paths: [rules]}
outputs: {file: {path: $T/alerts.json, fsync_interval: 20ms}}
stats: {interval: 500ms}
sources:
  - type: syslog
    name: net-udp
    listen: "udp://127.0.0.1:$UP"
    rate_per_peer: 20
  - type: syslog
    name: net-tcp
    listen: "tcp://127.0.0.1:$TP"
    max_message: 1k
    max_connections_per_peer: 2
    rate_per_peer: 100
    idle_timeout: 2s
EOF
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
if [ -n "$started" ]; then ok "agent listens on udp $UP and tcp $TP"; else bad "agent did not start"; cat "$T/agent.log"; finish; fi
expect_grep "source net-udp: receiving syslog over udp on 127\.0\.0\.1:$UP" "$T/agent.log" "the UDP source says where it listens"
expect_grep "source net-tcp: receiving syslog over tcp on 127\.0\.0\.1:$TP" "$T/agent.log" "the TCP source says where it listens"

# ---- UDP ----
send udp "$UP"
wait_users root admin && ok "UDP: RFC 3164 and RFC 5424 datagrams give alerts" || bad "UDP alerts missing"

# ---- TCP: LF, octet counting, overlong, framing error ----
send tcp-lf "$TP"
wait_users lf1 lf2 lf3 && ok "TCP LF: three lines, one split across writes, CRLF" || bad "TCP LF alerts missing"
send tcp-octet "$TP"
wait_users oc1 oc2 oc3 oc4 && ok "TCP octet counting: three frames in one write, one split in three" || bad "TCP octet alerts missing"
send tcp-long "$TP"
wait_users longuser afterlong && ok "TCP: an overlong line and the line after it" || bad "overlong alerts missing"
send tcp-bad "$TP"
wait_users beforebad && ok "TCP: the frame before a framing error arrives" || bad "frame before the error missing"
wait_stat net-tcp "s['framing_errors'] == 1 and s['connections_open'] == 0" \
    && ok "a framing error is counted and its connection closed" || bad "framing error not counted"
expect_grep "source net-tcp: 127\.0\.0\.1:[0-9]+: octet counting: a space expected after the count, not 0x61" "$T/agent.log" "the framing error is logged with the peer"

# ---- connections over the per-peer limit ----
send tcp-conns "$TP" "$T/release" &
CPID=$!
BG="$BG $CPID"
wait_stat net-tcp "s['connections_open'] == 2 and s['connections_refused'] == 2 and s['dropped']['connections'] == 2" \
    && ok "two connections kept, two over max_connections_per_peer refused and counted" || bad "per-peer limit"
wait_users conn1 conn2 && ok "the kept connections deliver" || bad "kept connections did not deliver"
touch "$T/release"
wait "$CPID"
wait_stat net-tcp "s['connections_open'] == 0" || bad "connections not closed"

# ---- TCP rate limit: slower, nothing lost; an idle connection closed meanwhile ----
wait_stat net-tcp "True"
before=$(python3 -c "import json; print(next(x for x in json.load(open('$T/state/stats.json'))['sources'] if x['name']=='net-tcp')['records'])")
send tcp-idle "$TP" &
IPID=$!
BG="$BG $IPID"
send tcp-burst "$TP" 250
wait_stat net-tcp "s['records'] == $before + 250 and s['rate_pauses'] >= 1 and s['dropped']['rate'] == 0" \
    && ok "TCP over rate_per_peer: reading pauses, all 250 messages arrive" || bad "TCP rate limit"
wait_stat net-tcp "s['connections_idle_closed'] == 1" && ok "a silent connection is closed after idle_timeout" || bad "idle connection not closed"
wait "$IPID"

# ---- UDP rate limit and kernel drops ----
send udp-burst "$UP" 60 100
wait_stat net-udp "s['dropped']['rate'] >= 20" && ok "UDP over rate_per_peer: dropped and counted" || bad "UDP rate limit"
# stopped, the agent cannot read: the socket's queue overflows and the kernel drops
kill -STOP "$PID"
n=$(( $(cat /proc/sys/net/core/rmem_default 2>/dev/null || echo 1000000) / 500 + 2000 ))
send udp-burst "$UP" "$n" 1000
kill -CONT "$PID"
# the count comes with the next datagram queued, once the agent has made room
kd=
for i in $(seq 1 30); do
    send udp-burst "$UP" 1 100
    wait_stat net-udp "s['kernel_drops'] > 0" 2 && { kd=1; break; }
done
[ -n "$kd" ] && ok "kernel drops (SO_RXQ_OVFL) are counted" || bad "kernel drops not counted"
# the summary line's dropped total counts every cause, the kernel's drops included
wait_stat net-udp "True"
total=$(python3 -c "import json; o = json.load(open('$T/state/stats.json'))
print(sum(sum(x['dropped'].values()) + x.get('kernel_drops', 0) for x in o['sources']))")
n=$(grep -c 'info: stats:' "$T/agent.log")
i=0
until [ "$(grep -c 'info: stats:' "$T/agent.log")" -gt "$n" ] || [ $i -ge 40 ]; do sleep 0.05; i=$((i + 1)); done
logged=$(grep 'info: stats:' "$T/agent.log" | tail -1 | sed -n 's/.* \([0-9]*\) dropped,.*/\1/p')
[ -n "$logged" ] && [ "$logged" -eq "$total" ] && ok "the logged dropped total ($logged) counts kernel drops too" \
    || bad "the logged dropped total is ${logged:-missing}, the stats say $total"

# ---- the counters and the alerts ----
wait_stat net-udp "True"
check "UDP datagrams counted, empty ones ignored" net-udp "s['transport'] == 'udp' and s['datagrams'] >= 4 and s['empty_ignored'] >= 2 and s['records'] >= 2"
check "the overlong message is counted as truncated" net-tcp "s['truncated'] == 1"
wait_stat net-tcp "s['connections_accepted'] == 8 and s['connections_closed'] == 8 and s['connections_open'] == 0" \
    && ok "TCP connections accepted and closed are counted" || bad "TCP connection counts"
python3 - "$T/alerts.json" >"$T/checks" <<'EOF'
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1])]
by = {}
for a in alerts:
    by.setdefault(a["ward"].get("extracted", {}).get("user"), []).append(a)
def say(ok, what):
    print(("ok " if ok else "bad ") + what)
r, ad = by["root"][0], by["admin"][0]
say(r["rule"]["id"] == "ward-sshd-failed-password", "rule ward-sshd-failed-password for the RFC 3164 datagram")
say(ad["rule"]["id"] == "ward-sshd-invalid-user", "rule ward-sshd-invalid-user for the RFC 5424 datagram")
say(r["log"]["source"]["address"].startswith("127.0.0.1:") and r["ward"]["fields"]["peer"] == r["log"]["source"]["address"],
    "log.source.address and ward.fields.peer name 127.0.0.1")
say(r["ward"]["source"] == {"kind": "syslog", "name": "net-udp", "transport": "udp"}, "ward.source says syslog, udp")
say(r["log"]["syslog"]["hostname"] == "fw01" and ad["log"]["syslog"]["hostname"] == "fw02", "the sender's host name is decoded")
say(r["event"]["original"].endswith("ssh2"), "the trailing LF of a datagram is stripped")
lf1 = by["lf1"][0]
say(lf1["ward"]["source"]["transport"] == "tcp" and lf1["ward"]["fields"]["transport"] == "tcp", "TCP alerts say tcp")
say(not by["lf2"][0]["event"]["original"].endswith("\r"), "CR of CRLF stripped")
say(by["oc4"][0]["event"]["original"] == "<38>Dec 10 06:55:48 fw01 sshd[4]: Invalid user oc4 from 198.51.100.4",
    "the split octet-counted frame arrives whole")
lg = by["longuser"][0]
say(lg["ward"].get("truncated") is True and len(lg["event"]["original"]) == 1024, "the overlong message is cut at max_message and flagged")
say("conn3" not in by and "conn4" not in by, "refused connections deliver nothing")
say("afterbad" not in by, "nothing after a framing error is read")
ids = [a["event"]["id"] for a in alerts]
say(len(ids) == len(set(ids)), "alert ids are unique (%d alerts)" % len(ids))
say(all(len(v) == 1 for k, v in by.items() if k), "every message gave one alert")
EOF
while read -r verdict what; do if [ "$verdict" = ok ]; then ok "$what"; else bad "$what"; fi; done <"$T/checks"
[ -s "$T/checks" ] || bad "alert checks did not run"

# ---- a message a sender has not finished when the agent stops is handed over ----
exec 7<>"/dev/tcp/127.0.0.1/$TP"
printf 'Dec 10 06:55:48 sw01 sshd[9]: Invalid user atstop from 198.51.100.77' >&7
sleep 0.3

# ---- SIGTERM: a prompt exit 0 ----
kill -TERM "$PID"
i=0
while kill -0 "$PID" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.05; i=$((i + 1)); done
if kill -0 "$PID" 2>/dev/null; then
    bad "still running 3 s after SIGTERM"
else
    wait "$PID"
    rc=$?
    PID=
    [ $rc -eq 0 ] && ok "SIGTERM: exits 0 promptly" || { bad "SIGTERM: exit $rc"; tail -5 "$T/agent.log"; }
fi
exec 7>&-
grep -q '"user":"atstop"' "$T/alerts.json" && ok "the unfinished message at SIGTERM became an alert" || bad "the message held at SIGTERM was lost"

# ---- bad listen values: refused by the configuration check (--check and start), with the
# file and line; an address that cannot be bound is refused at start, naming the source ----
bad_listen_yml() {
    printf 'agent: {state_dir: %s}\nrules: {paths: [rules]}\noutputs: {stdout: true}\nsources: [{type: syslog, name: dev, listen: "%s"}]\n' \
        "$T/state" "$1" >"$T/bad.yml"
}
# has LISTEN MESSAGE: $T/err holds the message, with the file and line before it
has() { grep -F -- "sources[0]: listen '$1': $2" "$T/err" | grep -q 'bad\.yml:4:[0-9]*: '; }
bad_listen() {
    bad_listen_yml "$1"
    "$WA" --check -c "$T/bad.yml" >"$T/err" 2>&1
    local rc=$?
    if [ $rc -eq 1 ] && has "$1" "$2"; then ok "--check: listen '$1' is refused: $2"; else bad "--check: listen '$1' (exit $rc):"; cat "$T/err"; fi
    "$WA" --once -c "$T/bad.yml" >/dev/null 2>"$T/err"
    rc=$?
    if [ $rc -eq 1 ] && has "$1" "$2"; then ok "start: listen '$1' is refused: $2"; else bad "start: listen '$1' (exit $rc):"; cat "$T/err"; fi
}
bad_listen "tcp://127.0.0.1" "a port is needed"
bad_listen "udp://::1:514" "an IPv6 address goes in brackets"
bad_listen "udp://[::1]:0" "the port must be a number from 1 to 65535"
bad_listen "udp://127.0.0.1:99999" "the port must be a number from 1 to 65535, not '99999'"
bad_listen "udp://:514" "an address is needed"
bad_listen "syslog://127.0.0.1:514" "must start with udp:// or tcp://"
bad_listen_yml "tcp://192.0.2.1:$TP"
"$WA" --once -c "$T/bad.yml" >/dev/null 2>"$T/err"
rc=$?
if [ $rc -eq 1 ] && grep -qF -- "error: source dev: listen 'tcp://192.0.2.1:$TP': cannot listen on 192.0.2.1:$TP" "$T/err"; then
    ok "an address that cannot be bound is refused at start"
else
    bad "tcp://192.0.2.1:$TP (exit $rc):"; cat "$T/err"
fi

# ---- the alerts cannot be written (a full disk) and limits.output_buffer is full: TCP is
# not read until they are (nothing lost), UDP is dropped and counted. The disk is a small
# tmpfs in a private mount namespace, as in agent-diskfull.sh (needs root). ----
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null || ! command -v nsenter >/dev/null; then
    bad "a full disk: needs root, unshare and nsenter (util-linux) for a private tmpfs"
    finish
fi
mkdir -p "$T/full" "$T/state2"
N=20000
started=
for try in 1 2 3 4 5 6; do
    UP=$((20000 + RANDOM % 40000))
    TP=$((20000 + RANDOM % 40000))
    [ "$UP" -ne "$TP" ] || continue
    cat >"$T/full.yml" <<EOF
agent: {name: syslog-full, state_dir: $T/state2}
rules: {paths: [rules]}
outputs: {file: {path: $T/full/alerts.json, fsync_interval: 20ms}}
stats: {interval: 0}
limits: {output_buffer: 1M}
sources:
  - type: syslog
    name: full-udp
    listen: "udp://127.0.0.1:$UP"
  - type: syslog
    name: full-tcp
    listen: "tcp://127.0.0.1:$TP"
EOF
    : >"$T/full.log"
    # in a mount namespace of its own, where $T/full is a full tmpfs (room for a few dozen
    # alerts); unshare and sh exec the agent, so $PID is the agent
    unshare -m --propagation private sh -c 'mount -t tmpfs -o size=32m tmpfs "$1" &&
        { head -c $((32 * 1024 * 1024 - 64 * 1024)) /dev/zero >"$1/fill" 2>/dev/null; true; } &&
        exec "$2" --foreground -c "$3"' sh "$T/full" "$WA" "$T/full.yml" 2>"$T/full.log" &
    PID=$!
    i=0
    while [ $i -lt 100 ] && kill -0 "$PID" 2>/dev/null && ! grep -q 'info: started' "$T/full.log"; do
        sleep 0.05
        i=$((i + 1))
    done
    if grep -q 'info: started' "$T/full.log"; then started=1; break; fi
    wait "$PID" 2>/dev/null
    PID=
    grep -q 'cannot listen' "$T/full.log" || break
done
if [ -z "$started" ]; then bad "a full disk: the agent did not start"; cat "$T/full.log"; finish; fi
# full_stat EXPR [TRIES]: as wait_stat, for this agent; tcp, udp: its sources' stats, out:
# the output's
full_stat() {
    local i=0
    while [ $i -lt "${2:-60}" ]; do
        rm -f "$T/state2/stats.json"
        kill -USR1 "$PID"
        local j=0
        while [ ! -f "$T/state2/stats.json" ] && [ $j -lt 50 ]; do sleep 0.01; j=$((j + 1)); done
        python3 - "$T/state2/stats.json" "$1" <<'EOF' && return 0
import json, sys
try:
    o = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(1)
src = {x["name"]: x for x in o["sources"]}
tcp, udp, out = src["full-tcp"], src["full-udp"], o["output"]
sys.exit(0 if eval(sys.argv[2]) else 1)
EOF
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
show_full() { python3 -c "import json,sys; o=json.load(open(sys.argv[1])); print(o['output']); [print(x) for x in o['sources']]" "$T/state2/stats.json" | sed 's/^/    /'; }
send tcp-users "$TP" "$N" &
SPID=$!
BG="$BG $SPID"
full_stat "tcp.get('backlog_holds', 0) >= 1 and tcp['records'] < $N" \
    && ok "a full disk: the TCP source stops reading when the output buffer is full" \
    || { bad "a full disk: the TCP source did not stop reading"; show_full; }
sleep 1
# what it had read when it stopped: at most one read (64 KiB of messages) past the limit
full_stat "tcp['records'] < $N and out['buffered_bytes'] < 4 * 1024 * 1024" 1 \
    && ok "a full disk: the buffered alerts stay bounded, the rest waits with the sender" \
    || { bad "a full disk: TCP went on reading"; show_full; }
expect_grep "warning: source full-tcp: the alerts cannot be written and limits\.output_buffer is full: not reading" "$T/full.log" "a full disk: the TCP source says it stopped reading"
send udp-users "$UP" 0 50
full_stat "udp['dropped']['backlog'] == 50 and udp['records'] == 0" \
    && ok "a full disk: UDP messages are dropped and counted in dropped.backlog" \
    || { bad "a full disk: UDP messages not dropped and counted"; show_full; }
# room again: everything TCP sent arrives, UDP is received again
nsenter -t "$PID" -m rm -f "$T/full/fill"
full_stat "tcp['records'] == $N" 200 && ok "a full disk with room again: all $N TCP messages are read" || { bad "a full disk: TCP messages missing after the disk had room"; show_full; }
wait "$SPID"
send udp-users "$UP" 50 5
full_stat "udp['records'] == 5 and udp['dropped']['backlog'] == 50" && ok "a full disk with room again: UDP is received again" || { bad "a full disk: UDP not received again"; show_full; }
expect_grep "info: source full-tcp: the alerts are written again: reading again" "$T/full.log" "a full disk: the TCP source says it reads again"
expect_grep "info: source full-udp: the alerts are written again: receiving again \(50 messages dropped meanwhile\)" "$T/full.log" "a full disk: the UDP source says what it dropped"
sleep 0.2
nsenter -t "$PID" -m cat "$T/full/alerts.json" >"$T/full-alerts.json"
python3 - "$T/full-alerts.json" "$N" >"$T/full-checks" <<'EOF'
import json, sys
users = [json.loads(l)["ward"].get("extracted", {}).get("user") for l in open(sys.argv[1])]
want = {"u%d" % i for i in range(int(sys.argv[2]))} | {"d%d" % i for i in range(50, 55)}
print("missing=%d extra=%d dups=%d" % (len(want - set(users)), len(set(users) - want), len(users) - len(set(users))))
EOF
expect_grep '^missing=0 extra=0 dups=0$' "$T/full-checks" "a full disk: every TCP message and the UDP ones after it gave one alert"
kill -TERM "$PID"
wait "$PID"
rc=$?
PID=
[ $rc -eq 0 ] && ok "a full disk: exits 0" || bad "a full disk: exit $rc"
finish

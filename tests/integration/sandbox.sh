#!/bin/bash
# The programs' own confinement, as root without the escape hatch: a missing user is
# refused; a real one (made here, removed at the end) is become, with its groups, before
# anything is read; the running process has no new privileges, a seccomp filter, no
# capability and a non-root uid; SIGHUP still reloads; Landlock keeps a file outside the
# configured paths unreadable even to the agent's own user; the collector likewise. A
# syslog port below 1024 is bound before the agent leaves root, or with systemd's
# AmbientCapabilities=CAP_NET_BIND_SERVICE before the capability is given up.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"
unset WARD_INSECURE_RUN_AS_ROOT
no_sanitizer_report() {
    if grep -q 'Sanitizer' "$1"; then bad "$2: sanitizer report"; grep -A5 Sanitizer "$1" | head -20; else ok "$2: no sanitizer report"; fi
}
WC="$B/ward-collector"

if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null; then
    ok "skipped: needs root and useradd"
    finish
fi

U=wardsbx$$
G=wardsbxg$$
COLL_PID=
sandbox_cleanup() {
    [ -n "$COLL_PID" ] && { kill -9 "$COLL_PID" 2>/dev/null; wait "$COLL_PID" 2>/dev/null; }
    agent_cleanup
    userdel "$U" 2>/dev/null
    groupdel "$G" 2>/dev/null
}
trap sandbox_cleanup EXIT
groupadd --system "$G" && useradd --system --no-create-home --shell /usr/sbin/nologin -G "$G" "$U" ||
    { bad "cannot create the test user"; finish; }

# a tree the test user owns (the worktree and $T itself may not be reachable by it)
chmod 755 "$T"
W="$T/u"
mkdir -p "$W/out" "$W/etc" "$W/rules" "$W/logs" "$W/state" "$W/other" "$W/coll"
cp -R tests/data/rules/agent/. "$W/rules/"
echo "Dec  1 10:00:00 host gen[1]: SEQ 99 secret" >"$W/other/secret.log"
chown -R "$U:$U" "$W"
chmod 644 "$W/other/secret.log"

# agent_yml FILE USER [extra source]: the agent reading $W/logs/*.log
agent_yml() {
    {
        echo "agent: {name: sbx, state_dir: $W/state, user: $2}"
        echo "rules: {paths: [$W/rules]}"
        echo "outputs: {file: {path: $W/out/alerts.json, fsync_interval: 20ms}}"
        echo "stats: {interval: 0}"
        echo "bookmark_interval: 50ms"
        echo "sources:"
        echo "  - {type: file, name: logs, paths: [\"$W/logs/*.log\"], scan_interval: 100ms, start_at: beginning}"
        [ -n "${3:-}" ] && echo "  - {type: file, name: other, paths: [\"$3\"], scan_interval: 100ms, start_at: beginning}"
    } >"$1"
}

# --- a user that does not exist: refused, with the reason
agent_yml "$W/etc/missing.yml" no-such-ward-user
"$WA" --once -c "$W/etc/missing.yml" 2>"$T/missing.err"
rc=$?
[ "$rc" -eq 1 ] && ok "agent: as root with a missing user, exits 1" || bad "agent: exit $rc with a missing user"
expect_grep "user 'no-such-ward-user' to run as does not exist" "$T/missing.err" "agent: the missing user is named"
[ -e "$W/state/bookmarks" ] && bad "agent: state touched before the refusal" || ok "agent: nothing written before the refusal"

printf 'collector: {state_dir: %s/coll, listen: "127.0.0.1:0", user: no-such-ward-user}\nstore: {type: sqlite}\n' "$W" >"$W/etc/cmissing.yml"
"$WC" -c "$W/etc/cmissing.yml" 2>"$T/cmissing.err"
rc=$?
[ "$rc" -eq 1 ] && ok "collector: as root with a missing user, exits 1" || bad "collector: exit $rc with a missing user"
expect_grep "user 'no-such-ward-user' to run as does not exist" "$T/cmissing.err" "collector: the missing user is named"
"$WC" -c "$W/etc/cmissing.yml" list 2>"$T/cmissing2.err"
[ $? -eq 1 ] && [ ! -e "$W/coll/collector.db" ] && ok "collector: a command as root with a missing user is refused before the store" ||
    bad "collector list with a missing user"

# --- the user exists: the agent becomes it and confines itself
agent_yml "$W/etc/a.yml" "$U"
gen "$W/logs/app.log" 1 5
chown "$U:$U" "$W/logs/app.log"
start_agent "$W/etc/a.yml"
wait_for_count "$W/out/alerts.json" 5 && ok "agent: as $U it reads the logs and writes alerts" || { bad "agent: no alerts as $U"; cat "$T/agent.log"; }
st=/proc/$AGENT_PID/status
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")
want=$(id -u "$U")
[ "$uids" = "$want $want $want $want" ] && ok "agent: every uid is $U's ($uids)" || bad "agent: uids $uids, not $want"
grep -qE "^Groups:.*\\b$(getent group "$G" | cut -d: -f3)\\b" "$st" && ok "agent: the user's supplementary group is kept" || bad "agent: groups $(grep Groups "$st")"
expect_grep '^NoNewPrivs:[[:space:]]+1$' "$st" "agent: NoNewPrivs 1"
expect_grep '^Seccomp:[[:space:]]+2$' "$st" "agent: Seccomp 2 (filter)"
expect_grep '^Seccomp_filters:[[:space:]]+1$' "$st" "agent: one seccomp filter"
for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    expect_grep "^$c:[[:space:]]+0+$" "$st" "agent: $c empty"
done
expect_grep "running as user $U" "$T/agent.log" "agent: says which user it became"
expect_grep 'sandbox: no_new_privs, seccomp' "$T/agent.log" "agent: says what confines it"
# the bookmarks are written bookmark_interval after the alerts: wait for them
i=0
while [ $i -lt 100 ] && [ ! -e "$W/state/bookmarks" ]; do sleep 0.05; i=$((i + 1)); done
[ "$(stat -c %U "$W/state/bookmarks" 2>/dev/null)" = "$U" ] && ok "agent: its state is written as $U" || bad "agent: bookmarks owned by $(stat -c %U "$W/state/bookmarks" 2>&1)"

# --- SIGHUP still reloads; a path outside the sandbox added by the reload stays closed
landlock=
grep -q 'landlock ABI' "$T/agent.log" && landlock=1
agent_yml "$W/etc/a.yml" "$U" "$W/other/secret.log"
kill -HUP "$AGENT_PID"
wait_log() { local i=0; while [ $i -lt 100 ]; do grep -q "$1" "$T/agent.log" && return 0; sleep 0.05; i=$((i + 1)); done; return 1; }
wait_log 'reloaded:' && ok "agent: SIGHUP reloads inside the sandbox" || { bad "agent: no reload"; tail "$T/agent.log"; }
gen "$W/logs/app.log" 6 8
wait_for_count "$W/out/alerts.json" 8 && ok "agent: lines after the reload still arrive" || bad "agent: nothing after the reload"
if [ -n "$landlock" ]; then
    wait_log 'secret.log: cannot open: Permission denied' && ok "landlock: a file outside the agent's paths cannot be read, even by its owner" ||
        { bad "landlock: no refusal of secret.log"; tail "$T/agent.log"; }
    grep -q '"seq":99' "$W/out/alerts.json" && bad "landlock: secret.log was read" || ok "landlock: nothing of secret.log reached the alerts"
else
    ok "skipped: the kernel has no Landlock"
fi
kill -0 "$AGENT_PID" 2>/dev/null && ok "agent: still running" || bad "agent: died"
stop_agent && ok "agent: SIGTERM, exit 0" || bad "agent: exit status after SIGTERM"
no_sanitizer_report "$T/agent.log" agent

# --- the collector becomes its user too
printf 'collector: {state_dir: %s/coll, listen: "127.0.0.1:0", user: %s}\nstore: {type: sqlite}\nstats: {interval: 0}\n' "$W" "$U" >"$W/etc/c.yml"
"$WC" -c "$W/etc/c.yml" 2>"$T/coll.log" &
COLL_PID=$!
i=0
while [ $i -lt 200 ] && ! grep -q 'listening on' "$T/coll.log"; do sleep 0.05; i=$((i + 1)); done
expect_grep 'listening on 127\.0\.0\.1:' "$T/coll.log" "collector: listens as $U"
st=/proc/$COLL_PID/status
uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")
[ "$uids" = "$want $want $want $want" ] && ok "collector: every uid is $U's" || bad "collector: uids $uids"
expect_grep '^NoNewPrivs:[[:space:]]+1$' "$st" "collector: NoNewPrivs 1"
expect_grep '^Seccomp:[[:space:]]+2$' "$st" "collector: Seccomp 2 (filter)"
expect_grep '^CapEff:[[:space:]]+0+$' "$st" "collector: CapEff empty"
expect_grep '^CapBnd:[[:space:]]+0+$' "$st" "collector: CapBnd empty"
[ "$(stat -c %U "$W/coll/collector.db" 2>/dev/null)" = "$U" ] && ok "collector: its store is $U's" || bad "collector: store owned by $(stat -c %U "$W/coll/collector.db" 2>&1)"
kill -TERM "$COLL_PID"
wait "$COLL_PID" && ok "collector: SIGTERM, exit 0" || bad "collector: exit status after SIGTERM"
COLL_PID=
no_sanitizer_report "$T/coll.log" collector
# --- keygen as root makes the keys as the agent's user, who can then read them
printf 'agent: {name: sbx, state_dir: %s/kstate, user: %s}\nrules: {paths: [%s/rules]}\noutputs: {stdout: true}\ncollector: {address: "127.0.0.1:1", insecure_skip_verify: true}\nsources:\n  - {type: file, paths: ["%s/logs/*.log"]}\n' "$W" "$U" "$W" "$W" >"$W/etc/k.yml"
mkdir -p "$W/kstate"
chown "$U:$U" "$W/kstate"
"$WA" -c "$W/etc/k.yml" keygen >"$T/keygen.out" 2>&1 && ok "keygen as root exits 0" || { bad "keygen as root"; cat "$T/keygen.out"; }
[ "$(stat -c %U "$W/kstate/agent.key" 2>/dev/null)" = "$U" ] && ok "keygen as root: the key is $U's" ||
    bad "keygen as root: agent.key owned by $(stat -c %U "$W/kstate/agent.key" 2>&1)"
# a command as root runs as the user as well
"$WC" -c "$W/etc/c.yml" list >"$T/list" 2>&1 && ok "collector: list as root runs (as $U)" || { bad "collector list"; cat "$T/list"; }

# --- syslog on a port below 1024 (network devices send to 514): bound while the agent
# still may, then used as the user; the process ends with no capability either way
# low_yml FILE PORT: the agent listening on udp://127.0.0.1:PORT, alerts to $W/low/alerts.json
low_yml() {
    {
        echo "agent: {name: sbx, state_dir: $W/lowstate, user: $U}"
        echo "rules: {paths: [$W/rules]}"
        echo "outputs: {file: {path: $W/low/alerts.json, fsync_interval: 20ms}}"
        echo "stats: {interval: 0}"
        echo "sources: [{type: syslog, name: net, listen: \"udp://127.0.0.1:$2\"}]"
    } >"$1"
}
# low_run HOW...: starts the agent (HOW: a command to run it under, or nothing for root) on
# a free port below 1024, sends one message, and checks the alert and the process
low_run() {
    local what=$1 i p started=
    shift
    rm -rf "$W/low" "$W/lowstate"
    mkdir -p "$W/low" "$W/lowstate"
    chown "$U:$U" "$W/low" "$W/lowstate"
    for try in 1 2 3 4 5; do
        p=$((600 + RANDOM % 400))
        low_yml "$W/etc/low.yml" "$p"
        : >"$T/low.log"
        "$@" "$WA" --foreground -c "$W/etc/low.yml" 2>"$T/low.log" &
        AGENT_PID=$!
        i=0
        while [ $i -lt 100 ]; do
            grep -q "receiving syslog over udp on 127.0.0.1:$p" "$T/low.log" && { started=1; break; }
            grep -q 'cannot listen' "$T/low.log" && break
            kill -0 "$AGENT_PID" 2>/dev/null || break
            sleep 0.05
            i=$((i + 1))
        done
        [ -n "$started" ] && break
        grep -q 'Address already in use' "$T/low.log" || break
        stop_agent
    done
    if [ -z "$started" ]; then
        bad "$what: no syslog on a port below 1024"
        cat "$T/low.log"
        stop_agent
        return
    fi
    ok "$what: listens on udp port $p"
    echo "<13>Dec  1 10:00:00 router gen[1]: SEQ 700 from a device" >/dev/udp/127.0.0.1/$p
    wait_for_count "$W/low/alerts.json" 1 && ok "$what: a message to port $p makes its alert" ||
        { bad "$what: no alert from port $p"; cat "$T/low.log"; }
    # a reload that restarts the source keeps the port (the socket bound at start)
    sed -i 's/name: net,/name: net, max_message: 4096,/' "$W/etc/low.yml"
    kill -HUP "$AGENT_PID"
    i=0
    while [ $i -lt 100 ] && ! grep -q 'reloaded:' "$T/low.log"; do sleep 0.05; i=$((i + 1)); done
    echo "<13>Dec  1 10:00:01 router gen[1]: SEQ 701 from a device" >/dev/udp/127.0.0.1/$p
    n=$(grep -c "receiving syslog over udp on 127.0.0.1:$p" "$T/low.log")
    [ "$n" -eq 2 ] && ok "$what: the reload restarted the source" || bad "$what: the source started $n times"
    wait_for_count "$W/low/alerts.json" 2 && ok "$what: after a reload that restarts the source, port $p still receives" ||
        { bad "$what: nothing on port $p after the reload"; cat "$T/low.log"; }
    st=/proc/$AGENT_PID/status
    uids=$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")
    [ "$uids" = "$want $want $want $want" ] && ok "$what: every uid is $U's" || bad "$what: uids $uids"
    for c in CapInh CapPrm CapEff CapAmb; do
        expect_grep "^$c:[[:space:]]+0+$" "$st" "$what: $c empty"
    done
    stop_agent && ok "$what: SIGTERM, exit 0" || bad "$what: exit status after SIGTERM"
    no_sanitizer_report "$T/low.log" "$what"
}
low_run "as root"
low_run "as $U with CAP_NET_BIND_SERVICE ambient" setpriv --reuid="$U" --regid="$U" --init-groups \
    --inh-caps=+net_bind_service --ambient-caps=+net_bind_service --
# without either, the port is refused with the reason
low_yml "$W/etc/low.yml" 999
setpriv --reuid="$U" --regid="$U" --init-groups -- "$WA" --once -c "$W/etc/low.yml" 2>"$T/low-noperm.log"
rc=$?
[ "$rc" -ne 0 ] && ok "as $U without the capability: refused (exit $rc)" || bad "as $U without the capability: exit 0"
expect_grep "cannot listen on 127\.0\.0\.1:999: Permission denied \(a port below 1024 is bound at start" "$T/low-noperm.log" \
    "as $U without the capability: the reason is given"
finish

#!/bin/bash
# The Debian packages on this machine: dpkg -i, the installed programs' checks, the
# agent and the collector run as their users (without systemd: setpriv, as the units
# would, with the unit's supplementary groups), shipping and enrolment, an upgrade to a
# rebuilt version N+1 that keeps every piece of state (keys, enrolment, spool,
# bookmarks, the collector's database, an edited conffile), then dpkg -r and dpkg -P.
# Builds the packages with make deb (N and N+1) when build/deb has none newer than the
# sources: about 35 s each here. Leaves the machine as it was: purges at the end, even
# on failure. Skipped unless root with dpkg, once packages of ward are installed already
# (not ours to remove), and under the sanitizer run (the packages are not sanitized
# builds: running them again would test nothing new).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/pkg_lib.bash"

pkg_preflight
command -v setpriv >/dev/null || skip "needs setpriv (util-linux)"

PIDS=
pkg_cleanup() {
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    dpkg -P ward-agent ward-collector >/dev/null 2>&1
    rm -rf "$T"
}
trap pkg_cleanup EXIT
chmod 0755 "$T" # the configurations and the CA copy here are read by ward and ward-collector

build_debs "$V1"
build_debs "$V2"

# --- install version N
dpkg -i "$(deb ward-agent "$V1")" "$(deb ward-collector "$V1")" </dev/null >"$T/dpkg-i" 2>&1 &&
    ok "dpkg -i ward-agent ward-collector $V1" || {
    bad "dpkg -i"
    cat "$T/dpkg-i"
    finish
}
for f in /usr/sbin/ward-agent /usr/bin/ward-rules /usr/sbin/ward-collector /etc/ward/agent.yml \
    /etc/ward/collector.yml /lib/systemd/system/ward-agent.service \
    /lib/systemd/system/ward-collector.service /usr/share/man/man8/ward-agent.8.gz \
    /usr/share/man/man8/ward-collector.8.gz /usr/share/man/man1/ward-rules.1.gz \
    /usr/share/ward/rules/linux/sshd.yml; do
    [ -e "$f" ] || bad "$f is not installed"
done
ok "the programs, configurations, units, man pages and rules are installed"
dpkg-query -W -f='${Conffiles}\n' ward-agent | grep -q ' /etc/ward/agent.yml ' &&
    ok "/etc/ward/agent.yml is a conffile" || bad "/etc/ward/agent.yml is not a conffile"
dpkg-query -W -f='${Conffiles}\n' ward-collector | grep -q ' /etc/ward/collector.yml ' &&
    ok "/etc/ward/collector.yml is a conffile" || bad "/etc/ward/collector.yml is not a conffile"
groups=$(id -nG ward 2>/dev/null)
for g in ward adm $(getent group systemd-journal >/dev/null && echo systemd-journal); do
    case " $groups " in
    *" $g "*) ;;
    *) bad "the ward user is not in group $g ($groups)" ;;
    esac
done
ok "the ward user is in: $groups"
[ "$(getent passwd ward | cut -d: -f7)" = /usr/sbin/nologin ] && ok "ward has no login shell" ||
    bad "ward's shell: $(getent passwd ward)"
id ward-collector >/dev/null 2>&1 && ok "the ward-collector user exists" || bad "no ward-collector user"
[ "$(stat -c '%U:%G %a' /var/lib/ward)" = "ward:ward 750" ] && ok "/var/lib/ward is ward's, 0750" ||
    bad "/var/lib/ward: $(stat -c '%U:%G %a' /var/lib/ward)"
[ "$(stat -c '%U:%G %a' /var/lib/ward-collector)" = "ward-collector:ward-collector 750" ] &&
    ok "/var/lib/ward-collector is ward-collector's, 0750" ||
    bad "/var/lib/ward-collector: $(stat -c '%U:%G %a' /var/lib/ward-collector)"
[ "$(stat -c '%U %a' /var/log/ward)" = "ward 750" ] && ok "/var/log/ward is ward's" ||
    bad "/var/log/ward: $(stat -c '%U %a' /var/log/ward)"

# as_user USER CMD...: the command as USER with USER's groups (those of the unit).
# In the background, setpriv itself (not this function, which would be a subshell):
# setpriv execs the program, so $! is the program's pid.
as_user() {
    local u=$1
    shift
    setpriv --reuid="$u" --regid="$u" --init-groups --inh-caps=-all -- "$@"
}

# --- the installed programs, with the shipped configuration and rules
as_user ward /usr/sbin/ward-agent --check -c /etc/ward/agent.yml >"$T/check" 2>&1 &&
    ok "ward-agent --check -c /etc/ward/agent.yml, as ward" || bad "ward-agent --check: $(cat "$T/check")"
expect_grep 'configuration ok: .* [0-9]+ rules' "$T/check" "the shipped configuration loads the shipped rules"
/usr/bin/ward-rules test /usr/share/ward/rules >"$T/rtest" 2>&1 &&
    ok "ward-rules test /usr/share/ward/rules" || {
    bad "ward-rules test"
    tail "$T/rtest"
}
as_user ward-collector /usr/sbin/ward-collector --check -c /etc/ward/collector.yml >"$T/ccheck" 2>&1 &&
    ok "ward-collector --check -c /etc/ward/collector.yml" || bad "ward-collector --check: $(cat "$T/ccheck")"
/usr/sbin/ward-agent --version | grep -q "^ward-agent " && ok "ward-agent --version" || bad "ward-agent --version"

# --- both running as their users: the collector listening, the agent shipping to it
sed 's/^\(  listen: \).*/\1"127.0.0.1:0"/' /etc/ward/collector.yml >"$T/collector.yml"
echo "stats: {interval: 0}" >>"$T/collector.yml"
chmod 0644 "$T/collector.yml"
# run_collector LOG [TRACEFILE]: as ward-collector, in the background, under strace when
# TRACEFILE is given (and strace is here); sets CPID (the collector's pid) and PORT
run_collector() {
    local log=$1 i=0 tr=
    [ -n "${2:-}" ] && [ -n "$TRACE" ] && tr="$TRACE $2"
    $tr setpriv --reuid=ward-collector --regid=ward-collector --init-groups --inh-caps=-all -- \
        /usr/sbin/ward-collector -c "$T/collector.yml" 2>"$log" &
    CPID=$!
    CWAIT=$CPID # what stop waits for: the collector, or strace, which exits with its status
    PIDS="$PIDS $CPID"
    if [ -n "$tr" ]; then # the traced program is strace's child
        while [ $i -lt 100 ] && ! CPID=$(pgrep -P "$CWAIT" -x ward-collector); do
            sleep 0.05
            i=$((i + 1))
        done
        PIDS="$PIDS $CPID"
    fi
    PORT=
    while [ $i -lt 200 ] && [ -z "$PORT" ]; do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | tail -1)
        kill -0 "$CPID" 2>/dev/null || break
        sleep 0.05
        i=$((i + 1))
    done
    [ -n "$PORT" ] && ok "ward-collector runs as ward-collector, listening on 127.0.0.1:$PORT" ||
        {
            bad "the collector did not start"
            cat "$log"
            finish
        }
        [ "$(ps -o user= -p "$CPID")" = ward-collector ] || bad "the collector runs as $(ps -o user= -p "$CPID")"
}
# stop PID NAME [WAITPID]: SIGTERM, exit status 0 (of WAITPID, the shell's child that
# exits with PID's status: strace)
stop() {
    kill -TERM "$1"
    wait "${3:-$1}"
    local rc=$?
    [ "$rc" -eq 0 ] && ok "$2 stops on SIGTERM with status 0" || bad "$2 exit status $rc"
}
# The units' SystemCallFilter=@system-service ~@privileged @resources: every system call
# the programs make below (traced with strace from their execve on) must be in it, or
# under systemd it would fail with EPERM. Skipped without strace or systemd-analyze.
TRACE=
if command -v strace >/dev/null && systemd-analyze syscall-filter @system-service >/dev/null 2>&1; then
    TRACE="strace -f -qq -o"
fi
# expand_group @GROUP: its system calls, nested groups expanded
expand_group() {
    systemd-analyze syscall-filter "$1" | sed -n '2,$p' | grep -v '^ *#' | awk '{print $1}' |
        while read -r e; do
            [ -z "$e" ] && continue
            case $e in
            @*) expand_group "$e" ;;
            *) echo "$e" ;;
            esac
        done
}
# check_syscalls TRACEFILE PROGRAM: the calls PROGRAM made after its execve, against the filter
check_syscalls() {
    [ -n "$TRACE" ] || {
        ok "skipped: the system call filter check needs strace and systemd-analyze"
        return
    }
    [ -s "$T/allowed" ] || {
        expand_group @system-service | sort -u >"$T/allow-all"
        { expand_group @privileged; expand_group @resources; } | sort -u >"$T/deny"
        # and the single calls the units add (the programs' own seccomp and Landlock)
        sed -n 's/^SystemCallFilter=\([a-z_].*\)/\1/p' packaging/systemd/ward-agent.service |
            tr ' ' '\n' >>"$T/allow-all"
        sort -u -o "$T/allow-all" "$T/allow-all"
        comm -23 "$T/allow-all" "$T/deny" >"$T/allowed"
    }
    awk -v p="execve(\"$2\"" 'f { print } index($0, p) { f = 1 }' "$1" |
        sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p' | sort -u >"$1.used"
    local n
    n=$(wc -l <"$1.used")
    if [ "$n" -lt 10 ]; then
        bad "the trace of $2 has $n system calls: $1"
        return
    fi
    comm -23 "$1.used" "$T/allowed" >"$1.denied"
    [ ! -s "$1.denied" ] && ok "$2: its $n system calls are all allowed by the units' SystemCallFilter" ||
        bad "$2 makes calls the unit's SystemCallFilter refuses: $(tr '\n' ' ' <"$1.denied")"
}
run_collector "$T/coll1.log" "$T/trace.coll"
cp /var/lib/ward-collector/tls/ca.pem "$T/ca.pem" && chmod 0644 "$T/ca.pem" ||
    bad "no demo CA in /var/lib/ward-collector/tls"

mkdir -p "$T/logs"
: >"$T/logs/auth.log"
chmod -R a+rX "$T/logs"
# agent_config: the shipped configuration's state and output, a file source, the collector
agent_config() {
    cat >"$T/agent.yml" <<EOF
agent: {state_dir: /var/lib/ward, name: pkgtest}
rules: {paths: [/usr/share/ward/rules]}
sources:
  - {type: file, name: auth, paths: [$T/logs/auth.log], start_at: beginning}
outputs:
  file: {path: /var/log/ward/alerts.json}
stats: {interval: 0}
collector: {address: "127.0.0.1:$PORT", ca: $T/ca.pem, backoff_max: 200ms}
EOF
    chmod 0644 "$T/agent.yml"
}
agent_config
as_user ward /usr/sbin/ward-agent keygen -c "$T/agent.yml" >"$T/keygen" 2>&1 &&
    ok "ward-agent keygen, as ward" || bad "keygen: $(cat "$T/keygen")"
[ "$(stat -c '%U %a' /var/lib/ward/agent.key)" = "ward 600" ] && ok "the agent's key is ward's, 0600" ||
    bad "agent.key: $(stat -c '%U %a' /var/lib/ward/agent.key)"
# the regional team gets the .pub and enrols it
cp /var/lib/ward/agent.pub "$T/pkgtest.pub" && chmod 0644 "$T/pkgtest.pub"
as_user ward-collector /usr/sbin/ward-collector -c "$T/collector.yml" enroll --org council-t \
    --agent pkgtest --pubkey "$T/pkgtest.pub" >"$T/enroll" 2>&1 &&
    ok "ward-collector enroll, as ward-collector" || bad "enroll: $(cat "$T/enroll")"

line() { echo "Dec 10 06:55:$1 host sshd[24200]: Failed password for root from 192.0.2.$2 port 41090 ssh2" >>"$T/logs/auth.log"; }
line 48 7
tr=
[ -n "$TRACE" ] && tr="$TRACE $T/trace.agent"
$tr setpriv --reuid=ward --regid=ward --init-groups --inh-caps=-all -- \
    /usr/sbin/ward-agent --foreground -c "$T/agent.yml" 2>"$T/agent1.log" &
APID=$!
AWAIT=$APID
PIDS="$PIDS $APID"
if [ -n "$tr" ]; then
    i=0
    while [ $i -lt 100 ] && ! APID=$(pgrep -P "$AWAIT" -x ward-agent); do
        sleep 0.05
        i=$((i + 1))
    done
    PIDS="$PIDS $APID"
fi
# stored MORE PATTERN: the collector's store holds more than MORE alerts of the agent with
# PATTERN; sets NSTORED
stored() {
    local i=0
    while [ $i -lt 200 ]; do
        NSTORED=$(as_user ward-collector /usr/sbin/ward-collector -c "$T/collector.yml" query \
            --org council-t --json 2>/dev/null | grep '"agent":"pkgtest"' | grep -c "$2")
        [ "$NSTORED" -gt "$1" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    echo "    stored: $NSTORED alerts with $2"
    return 1
}
stored 0 '192\.0\.2\.7' && ok "the agent (as ward) shipped its alert to the collector" ||
    {
        bad "nothing stored"
        cat "$T/agent1.log" "$T/coll1.log"
    }
[ "$(ps -o user= -p "$APID")" = ward ] && ok "the agent runs as ward" || bad "the agent runs as $(ps -o user= -p "$APID")"
grep -q '192\.0\.2\.7' /var/log/ward/alerts.json && ok "the alert is in /var/log/ward/alerts.json" ||
    bad "no alert in /var/log/ward/alerts.json"
rm -f /var/lib/ward/stats.json
kill -USR1 "$APID"
i=0
while [ ! -s /var/lib/ward/stats.json ] && [ $i -lt 100 ]; do
    sleep 0.05
    i=$((i + 1))
done
expect_grep '"connected":true' /var/lib/ward/stats.json "the agent's stats (SIGUSR1): connected to the collector"

# the collector goes away: the next alert waits in the agent's spool
stop "$CPID" "ward-collector" "$CWAIT"
check_syscalls "$T/trace.coll" /usr/sbin/ward-collector
line 49 8
i=0
while ! grep -q '192\.0\.2\.8' /var/log/ward/alerts.json && [ $i -lt 200 ]; do
    sleep 0.05
    i=$((i + 1))
done
sleep 0.3 # the spool's group commit (sync_interval 100ms)
stop "$APID" "ward-agent" "$AWAIT"
check_syscalls "$T/trace.agent" /usr/sbin/ward-agent
as_user ward /usr/sbin/ward-agent spool-dump /var/lib/ward/spool >"$T/spool1" 2>&1
grep -q '192\.0\.2\.8' "$T/spool1" && ok "the second alert waits in the spool" ||
    {
        bad "the spool does not hold the second alert"
        cat "$T/spool1"
    }

# --- the state before the upgrade, and an admin's edit of a conffile
N7=$(grep -c '192\.0\.2\.7' /var/log/ward/alerts.json)
stored 0 '192\.0\.2\.7'
S7=$NSTORED
echo "# edited by the admin" >>/etc/ward/agent.yml
state() {
    {
        sha256sum /var/lib/ward/agent.key /var/lib/ward/agent.pub /var/lib/ward/bookmarks \
            /etc/ward/agent.yml
        find /var/lib/ward-collector -type f ! -name stats.json ! -name '*-wal' ! -name '*-shm' \
            ! -name '*.db' -exec sha256sum {} + | sort
        as_user ward-collector /usr/sbin/ward-collector -c "$T/collector.yml" list
        id ward
        id ward-collector
    } 2>&1
}
state >"$T/state1"
grep -q 'pkgtest' "$T/state1" && ok "the enrolment is listed" || bad "no enrolment listed"

# --- upgrade to version N+1
dpkg -i "$(deb ward-agent "$V2")" "$(deb ward-collector "$V2")" </dev/null >"$T/dpkg-u" 2>&1 &&
    ok "dpkg -i $V2 over $V1 (upgrade)" || {
    bad "the upgrade"
    cat "$T/dpkg-u"
}
[ "$(dpkg-query -W -f='${Version}' ward-agent)" = "$V2" ] && ok "ward-agent is $V2 now" ||
    bad "ward-agent is $(dpkg-query -W -f='${Version}' ward-agent)"
state >"$T/state2"
if cmp -s "$T/state1" "$T/state2"; then
    ok "keys, bookmarks, enrolment, collector state, users and the edited conffile survived"
else
    bad "the state changed in the upgrade:"
    diff "$T/state1" "$T/state2" | head -20
fi
as_user ward /usr/sbin/ward-agent spool-dump /var/lib/ward/spool >"$T/spool2" 2>&1
cmp -s "$T/spool1" "$T/spool2" && ok "the spool survived the upgrade" || bad "the spool changed"
# and the upgraded programs carry on from there: the spooled alert reaches the collector
run_collector "$T/coll2.log"
agent_config
setpriv --reuid=ward --regid=ward --init-groups --inh-caps=-all -- \
    /usr/sbin/ward-agent --foreground -c "$T/agent.yml" 2>"$T/agent2.log" &
APID=$!
PIDS="$PIDS $APID"
stored 0 '192\.0\.2\.8' && ok "after the upgrade the spooled alert was shipped" ||
    {
        bad "the spooled alert was not shipped"
        cat "$T/agent2.log"
    }
n=$(grep -c '192\.0\.2\.7' /var/log/ward/alerts.json)
[ "$n" -eq "$N7" ] && ok "the bookmarks held: no line read twice" || bad "$n alerts of the first line, not $N7"
stored 0 '192\.0\.2\.7'
[ "$NSTORED" -eq "$S7" ] && ok "the collector stored the first alerts once" || bad "$NSTORED alerts of the first line stored, not $S7"
stop "$APID" "ward-agent"
stop "$CPID" "ward-collector"
grep -h 'Sanitizer\|runtime error' "$T"/*.log && bad "sanitizer report"

# --- remove: programs gone, configuration, state and users kept
dpkg -r ward-agent ward-collector </dev/null >"$T/dpkg-r" 2>&1 && ok "dpkg -r" || {
    bad "dpkg -r"
    cat "$T/dpkg-r"
}
[ ! -e /usr/sbin/ward-agent ] && [ ! -e /usr/sbin/ward-collector ] && [ ! -e /usr/share/ward ] &&
    ok "remove: the programs and rules are gone" || bad "remove left programs behind"
[ -e /etc/ward/agent.yml ] && [ -e /etc/ward/collector.yml ] && [ -e /var/lib/ward/agent.key ] &&
    [ -e /var/lib/ward-collector ] && id ward >/dev/null 2>&1 &&
    ok "remove: the conffiles, the state and the users are kept" || bad "remove took configuration or state"
dpkg -P ward-agent ward-collector </dev/null >"$T/dpkg-p" 2>&1 && ok "dpkg -P" || {
    bad "dpkg -P"
    cat "$T/dpkg-p"
}
grep -i 'warning' "$T/dpkg-p" && bad "dpkg -P warned"
for f in /etc/ward /var/lib/ward /var/lib/ward-collector /var/log/ward /etc/logrotate.d/ward-agent; do
    [ -e "$f" ] && bad "purge left $f"
done
getent passwd ward ward-collector && bad "purge left a user"
getent group ward ward-collector && bad "purge left a group"
grep -E '(:|,)ward(-collector)?(,|$)' /etc/group && bad "purge left ward in a group"
[ -z "$(dpkg-query -W -f='${db:Status-Status}\n' ward-agent ward-collector 2>/dev/null | grep -v '^not-installed$')" ] &&
    ok "purge: packages, configuration, state, alerts, users and groups are gone" || bad "purge left something"
finish

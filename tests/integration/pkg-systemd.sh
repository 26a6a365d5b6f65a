#!/bin/bash
# The packages' systemd units under a real systemd: a container (systemd-nspawn, no
# network but its loopback) booted from this machine's own root through an overlay whose
# writable layer is a tmpfs, so that nothing done inside stays. In it, as a council
# would: dpkg -i (the units installed disabled), the collector and the agent enabled
# with `systemctl enable --now` and confined by their units, the agent reading
# /var/log/auth.log (group adm) and the journal (group systemd-journal), writing
# /var/log/ward under ReadOnlyPaths=/var/log, shipping to the collector; reload, stats,
# the exposure scores, an upgrade that restarts both, remove and purge. Skipped (with
# the reason) where the container cannot boot here.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/pkg_lib.bash"

pkg_preflight
command -v systemd-nspawn >/dev/null || skip "needs systemd-nspawn (systemd-container)"
command -v nsenter >/dev/null || skip "needs nsenter (util-linux)"

C="$T/ct"
R="$C/root"
NSP=
P1=
ct_cleanup() {
    if [ -n "$P1" ] && kill -0 "$P1" 2>/dev/null; then
        nsenter -t "$P1" -a systemctl poweroff >/dev/null 2>&1
        local i=0
        while kill -0 "$NSP" 2>/dev/null && [ $i -lt 100 ]; do
            sleep 0.1
            i=$((i + 1))
        done
    fi
    [ -n "$NSP" ] && kill -9 "$NSP" 2>/dev/null
    for m in "$R/tmp" "$R/run" "$R/dev" "$R" "$C"; do
        while mountpoint -q "$m" 2>/dev/null; do umount "$m" 2>/dev/null || umount -l "$m"; done
    done
    rm -rf "$T"
}
trap ct_cleanup EXIT

build_debs "$V1"
build_debs "$V2"

# the container's root: this machine's, read-only, under a tmpfs; empty /dev, /run, /tmp
mkdir -p "$C"
mount -t tmpfs -o size=2G tmpfs "$C" || skip "cannot mount a tmpfs"
mkdir -p "$C/upper" "$C/work" "$R"
mount -t overlay overlay -o "lowerdir=/,upperdir=$C/upper,workdir=$C/work" "$R" ||
    skip "cannot mount an overlay of / here"
for d in dev run tmp; do mount -t tmpfs tmpfs "$R/$d"; done
mkdir -p "$R/debs"
cp "$(deb ward-agent "$V1")" "$(deb ward-collector "$V1")" "$(deb ward-agent "$V2")" \
    "$(deb ward-collector "$V2")" "$R/debs/"
systemd-id128 new >"$R/etc/machine-id"
rm -f "$R/usr/sbin/policy-rc.d" # a container image's "start no service": a host starts them

systemd-nspawn -q -D "$R" --machine="ward-it-$$" --register=no --keep-unit --link-journal=no \
    --private-network -b </dev/null >"$T/boot.log" 2>&1 &
NSP=$!
i=0
while [ $i -lt 200 ] && [ -z "$P1" ]; do
    P1=$(pgrep -P "$NSP" -x systemd)
    kill -0 "$NSP" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
[ -n "$P1" ] || {
    tail -5 "$T/boot.log"
    skip "systemd-nspawn cannot boot a container here"
}
ct() { nsenter -t "$P1" -a "$@"; }
# ct_ok DESCRIPTION CMD...: CMD in the container, from no input, its output shown if it fails
ct_ok() {
    local d=$1
    shift
    if ct "$@" </dev/null >"$T/out" 2>&1; then ok "$d"; else
        bad "$d"
        sed 's/^/    /' "$T/out" | tail -20
    fi
}
# until its manager answers and the boot is done (running, or degraded: a unit of this
# machine's own that fails in a container is not ours)
i=0
state=
while [ $i -lt 600 ]; do
    state=$(ct systemctl is-system-running 2>&1)
    case $state in running | degraded) break ;; esac
    kill -0 "$NSP" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
case $state in
running | degraded) ok "a container booted with systemd ($state)" ;;
*) skip "the container did not finish booting in 60 s: $state" ;;
esac

# --- install: the units are there, disabled
ct_ok "dpkg -i under systemd" dpkg -i "/debs/ward-agent_${V1}_$ARCH.deb" "/debs/ward-collector_${V1}_$ARCH.deb"
for u in ward-agent ward-collector; do
    [ "$(ct systemctl is-enabled $u 2>&1)" = disabled ] && ok "$u.service is installed disabled" ||
        bad "$u.service: $(ct systemctl is-enabled $u 2>&1)"
done

# --- what a council and the region do (README): configure, keygen, enrol, enable --now
ct_ok "configure, keygen, --check, enroll, systemctl enable --now" sh -c '
set -e
systemctl enable --now ward-collector
for i in $(seq 50); do [ -e /var/lib/ward-collector/tls/ca.pem ] && break; sleep 0.1; done
cp /var/lib/ward-collector/tls/ca.pem /etc/ward/region-ca.pem
cp /var/lib/ward-collector/feed.pub /etc/ward/region-feed.pub
echo "Dec 10 06:55:48 vm sshd[24200]: Failed password for root from 192.0.2.9 port 41090 ssh2" >/var/log/auth.log
chown root:adm /var/log/auth.log
chmod 0640 /var/log/auth.log
sed -i "s|^  # - {type: file, name: auth, paths: \[/var/log/auth.log\]}|  - {type: file, name: auth, paths: [/var/log/auth.log], start_at: beginning}|" /etc/ward/agent.yml
grep -q "^  - {type: file, name: auth" /etc/ward/agent.yml
printf "collector:\n  address: localhost:6514\n  ca: /etc/ward/region-ca.pem\n  feed_key: /etc/ward/region-feed.pub\n" >>/etc/ward/agent.yml
runuser -u ward -- ward-agent keygen -c /etc/ward/agent.yml
runuser -u ward -- ward-agent --check -c /etc/ward/agent.yml
cp /var/lib/ward/agent.pub /tmp/web01.pub
chmod 0644 /tmp/web01.pub
runuser -u ward-collector -- ward-collector enroll --org council-a --agent web01 --pubkey /tmp/web01.pub
systemctl enable --now ward-agent
'
for u in ward-agent ward-collector; do
    [ "$(ct systemctl is-active $u)" = active ] && ok "$u.service is active" ||
        bad "$u.service: $(ct systemctl status $u --no-pager 2>&1 | head -20)"
done
# stored PATTERN: the collector stored an alert of web01 with PATTERN
stored() {
    local i=0
    while [ $i -lt 100 ]; do
        ct runuser -u ward-collector -- ward-collector query --org council-a --json 2>/dev/null |
            grep '"agent":"web01"' | grep -q "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
stored '192\.0\.2\.9' && ok "confined: /var/log/auth.log (group adm) read, its alert shipped and stored" ||
    bad "the alert of /var/log/auth.log was not stored"
# the journal is read from its end on the first run: log once the agent is at work
ct logger -t sshd -p auth.info "Failed password for invalid user admin from 198.51.100.4 port 5555 ssh2"
stored '198\.51\.100\.4' && ok "confined: the journal (group systemd-journal) read, its alert shipped and stored" ||
    bad "the alert of the journal was not stored"
[ "$(ct stat -c %U /var/log/ward/alerts.json 2>&1)" = ward ] &&
    ok "the alerts file is written in /var/log/ward (LogsDirectory= under ReadOnlyPaths=/var/log)" ||
    bad "/var/log/ward/alerts.json: $(ct ls -l /var/log/ward 2>&1)"
ct rm -f /var/lib/ward/stats.json
ct systemctl kill -s USR1 ward-agent
i=0
while [ $i -lt 50 ] && ! ct grep -q '"connected":true' /var/lib/ward/stats.json 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
ct grep -q '"connected":true' /var/lib/ward/stats.json && ok "systemctl kill -s USR1: the stats say connected" ||
    bad "no stats, or not connected"
pid=$(ct systemctl show -p MainPID --value ward-agent)
ct systemctl reload ward-agent && sleep 0.5
[ "$(ct systemctl show -p MainPID --value ward-agent)" = "$pid" ] && [ "$(ct systemctl is-active ward-agent)" = active ] &&
    ok "systemctl reload: the same agent carries on" || bad "reload"
for u in ward-agent ward-collector; do
    score=$(ct systemd-analyze security "$u.service" 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
    awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' && ok "systemd-analyze security $u: $score (2.0 or lower)" ||
        bad "systemd-analyze security $u: '$score'"
done
# --- network devices on udp 514: the drop-in of the unit's comment, the port bound and the
# capability given up before anything is read
ct_ok "a drop-in for port 514 and a syslog source there, systemctl restart" sh -c '
set -e
mkdir -p /etc/systemd/system/ward-agent.service.d
printf "[Service]\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE\nSystemCallFilter=capset\nPrivateUsers=no\n" \
    >/etc/systemd/system/ward-agent.service.d/syslog-514.conf
sed -i "s|^  # - {type: syslog, name: devices, listen: \"udp://0.0.0.0:514\"}|  - {type: syslog, name: devices, listen: \"udp://127.0.0.1:514\"}|" /etc/ward/agent.yml
grep -q "^  - {type: syslog, name: devices" /etc/ward/agent.yml
systemctl daemon-reload
systemctl restart ward-agent
'
i=0
while [ $i -lt 50 ] && ! ct journalctl -u ward-agent --no-pager 2>/dev/null | grep -q 'receiving syslog over udp on 127.0.0.1:514'; do
    sleep 0.1
    i=$((i + 1))
done
ct logger --udp --server 127.0.0.1 --port 514 --rfc3164 -t sshd "Failed password for root from 192.0.2.77 port 41091 ssh2"
stored '192\.0\.2\.77' && ok "a device's message to udp 514 is alerted, shipped and stored" ||
    bad "nothing stored of the message to udp 514: $(ct journalctl -u ward-agent --no-pager 2>&1 | tail -5)"
pid=$(ct systemctl show -p MainPID --value ward-agent)
caps=$(ct grep -E '^Cap(Prm|Eff|Amb):' "/proc/$pid/status" | awk '{print $2}' | sort -u)
[ "$caps" = 0000000000000000 ] && ok "the agent gave CAP_NET_BIND_SERVICE up once the port was bound" ||
    bad "the agent holds capabilities: $(ct grep ^Cap "/proc/$pid/status" 2>&1)"
score=$(ct systemd-analyze security ward-agent.service 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
awk -v s="$score" 'BEGIN { exit !(s != "" && s <= 2.0) }' && ok "systemd-analyze security ward-agent with the 514 drop-in: $score (2.0 or lower)" ||
    bad "systemd-analyze security ward-agent with the 514 drop-in: '$score'"
ct journalctl -u ward-agent -u ward-collector --no-pager >"$T/journal" 2>&1
if grep -E 'warning|error|denied|not permitted|code=killed|SIGSYS' "$T/journal"; then
    bad "the units' journal has warnings or errors"
else
    ok "the journal of both units has no warning and no error"
fi

# --- upgrade: both restarted, the agent's key and the enrolment kept
key1=$(ct sha256sum /var/lib/ward/agent.key)
apid=$(ct systemctl show -p MainPID --value ward-agent)
cpid=$(ct systemctl show -p MainPID --value ward-collector)
ct_ok "the upgrade to $V2" dpkg -i "/debs/ward-agent_${V2}_$ARCH.deb" "/debs/ward-collector_${V2}_$ARCH.deb"
for u in ward-agent ward-collector; do
    [ "$(ct systemctl is-active $u)" = active ] || bad "$u is not active after the upgrade"
done
[ "$(ct systemctl show -p MainPID --value ward-agent)" != "$apid" ] &&
    [ "$(ct systemctl show -p MainPID --value ward-collector)" != "$cpid" ] &&
    ok "the upgrade restarted both units" || bad "the upgrade did not restart the units"
[ "$(ct sha256sum /var/lib/ward/agent.key)" = "$key1" ] && ok "the agent's key survived the upgrade" ||
    bad "the agent's key changed"
ct runuser -u ward-collector -- ward-collector list | grep -q 'web01 .* active' &&
    ok "the enrolment survived the upgrade" || bad "the enrolment is gone"

# --- remove stops the units; purge removes the rest
ct_ok "dpkg -r" dpkg -r ward-agent ward-collector
[ "$(ct systemctl is-active ward-agent)" != active ] && [ "$(ct systemctl is-active ward-collector)" != active ] &&
    ok "dpkg -r stopped both units" || bad "a unit still runs after dpkg -r"
ct_ok "dpkg -P" dpkg -P ward-agent ward-collector
ct sh -c 'getent passwd ward ward-collector; ls -d /var/lib/ward /var/lib/ward-collector /var/log/ward \
    /etc/systemd/system/multi-user.target.wants/ward-agent.service 2>/dev/null' >"$T/left"
[ ! -s "$T/left" ] && ok "dpkg -P: users, state, alerts and the enablement are gone" ||
    bad "purge left: $(cat "$T/left")"
finish

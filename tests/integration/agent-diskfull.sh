#!/bin/bash
# The alerts file's disk fills up: the agent keeps the alerts, stops reading when its
# buffer is full, does not move its bookmarks, survives kill -9 in that state, and writes
# everything once there is room again. The disk is a small tmpfs in a private mount
# namespace (needs root, as make check runs on CI).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
    bad "needs root and unshare (util-linux) for a private tmpfs"
    finish
fi
write_config "$T/a.yml" "start_at: beginning"
sed -i "s|path: $T/alerts.json|path: $T/out/alerts.json|" "$T/a.yml"
echo "limits: {output_buffer: 1M}" >>"$T/a.yml"
mkdir -p "$T/out"
export T WA B
unshare -m --propagation private bash -c '
    . tests/integration/lib.bash >/dev/null
    . tests/integration/agent_lib.bash
    T='"$T"'
    mount -t tmpfs -o size=4m tmpfs "$T/out" || { echo "not ok - mount"; exit 1; }
    # leave about 100 KiB: room for about 80 alerts
    head -c $((4 * 1024 * 1024 - 100 * 1024)) /dev/zero >"$T/out/fill" 2>/dev/null
    gen "$T/logs/app.log" 1 3000
    start_agent "$T/a.yml"
    sleep 2
    n=$(grep -c "\"seq\":" "$T/out/alerts.json" 2>/dev/null)
    [ "${n:-0}" -lt 3000 ] && ok "the disk is full: only ${n:-0} alerts written" || bad "everything was written?"
    grep -q "alerts cannot be written" "$T/agent.log" && ok "the failure is logged" || bad "no error logged"
    kill9_agent
    # the bookmark did not pass what was not written
    off=$(awk -F"\t" "\$1 == \"file\" { print \$4 }" "$T/state/bookmarks" 2>/dev/null)
    size=$(stat -c %s "$T/logs/app.log")
    [ "${off:-0}" -lt "$size" ] && ok "the bookmark stayed behind (${off:-0} < $size)" || bad "bookmark at ${off:-0} of $size"
    start_agent "$T/a.yml"
    sleep 1
    rm -f "$T/out/fill"
    wait_for_count "$T/out/alerts.json" 3000 30 || bad "not everything arrived after the disk had room"
    stop_agent && ok "exits 0" || bad "exit status"
    check_none_lost "$T/out/alerts.json" 1 3000 "a full disk and a kill -9 lost no alert"
    cp "$T/out/alerts.json" "$T/alerts.copy"
    umount "$T/out"
    exit $fails
'
rc=$?
[ $rc -eq 0 ] && ok "disk-full scenario" || bad "disk-full scenario ($rc failed)"
finish

#!/bin/bash
# The cost of a wake: 100 one-line writes to one file, while 50 idle files are followed
# too, counted with strace -c. An idle file costs no read; the file that grew, one read
# of its head (a refilled truncation is told by it) and one of its new bytes.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

if ! command -v strace >/dev/null; then
    ok "skipped: no strace"
    finish
fi
write_config "$T/a.yml" "start_at: beginning"
# no scan during the measure: only the inotify wakes are counted
sed -i 's/scan_interval: 100ms/scan_interval: 60s/' "$T/a.yml"
for i in $(seq 1 50); do gen "$T/logs/idle$i.log" $i $i; done
gen "$T/logs/hot.log" 51 51
start_agent "$T/a.yml"
wait_for_count "$T/alerts.json" 51 10 || bad "the first lines did not arrive"
strace -f -c -o "$T/strace" -p "$AGENT_PID" 2>/dev/null &
SP=$!
sleep 0.5
if ! kill -0 "$SP" 2>/dev/null; then
    ok "skipped: strace cannot attach here"
    stop_agent
    finish
fi
perl -e 'open(my $o, ">>", $ARGV[0]) or die; select((select($o), $| = 1)[0]);
    for my $i (52 .. 151) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n"; select(undef, undef, undef, 0.01) }' "$T/logs/hot.log"
wait_for_count "$T/alerts.json" 151 10 || bad "the writes did not arrive"
sleep 0.2
kill -INT "$SP"
wait "$SP"
stop_agent
check_exactly "$T/alerts.json" 1 151 "every line once"
calls() { awk -v s="$1" '$NF == s { print $4 }' "$T/strace"; }
pread=$(calls pread64)
echo "# 100 writes, 50 idle files: pread64 ${pread:-0}, newfstatat $(calls newfstatat), epoll_wait $(calls epoll_wait)"
[ "${pread:-0}" -le 400 ] && ok "idle files are not read at every wake (${pread:-0} preads)" || bad "${pread:-0} preads for 100 writes"
finish

#!/bin/bash
# make bench, part 4: ward-agent shipping to ward-collector (SQLite, demo CA, loopback),
# every figure against a baseline measured in the same run:
#   1. shipping throughput with fsync on: the agent reading the sample corpus replicated
#      to SHIP_MB (50) MB, lines/s and alerts/s until the collector has stored every
#      alert, against the same agent with the alerts file only (--once);
#   2. end-to-end latency: LAT_LINES (500) lines appended to a tailed file at LAT_RATE
#      (100) lines/s; a line's write -> its alert stored (the store's received_ms),
#      median and 99th percentile, against the same line's write -> its alert in the
#      agent's local alerts file;
#   3. the regional indicator: council-a's agent alerted on an address, council-b's
#      alerts on it at t0; from t0 until council-c's agent has the indicator loaded (its
#      log) and alerts ward.regional on a line written then (a line with the address
#      every 20 ms). Goal: within 2 s.
#   bench/ship.sh BUILD_DIR
set -u
# Run as root (as on the test machines), the programs keep root, as the tests let them:
# the bench measures them, not their change to their users.
[ "$(id -u)" -ne 0 ] || export WARD_INSECURE_RUN_AS_ROOT=1
B=${1:-build}
WA=$B/ward-agent
WC=$B/ward-collector
corpus=${WARD_CORPUS:-../shared/corpus}
size_mb=${SHIP_MB:-50}
lat_lines=${LAT_LINES:-500}
lat_rate=${LAT_RATE:-100}
if ! ls "$corpus"/*.log >/dev/null 2>&1; then
    echo "bench: $corpus/*.log (the sample corpus) is needed" >&2
    exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ward-sbench.XXXXXX")
pids=
trap 'for p in $pids; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/keys"

now_ms() { perl -MTime::HiRes=time -e 'printf "%.3f\n", time * 1000'; }
# stamp FILE: stdin to FILE, each line prefixed with the time it arrived (ms)
stamp() { perl -MTime::HiRes=time -ne 'BEGIN { $| = 1 } printf "%.3f %s", time * 1000, $_' >"$1"; }
# sql QUERY: against the collector's SQLite database (read-only, WAL: while it runs)
sql() { sqlite3 -readonly "$tmp/cs/collector.db" "$1"; }
# stored NAME: how many alerts of agent NAME are stored
stored() { sql "SELECT COUNT(*) FROM alerts WHERE agent = (SELECT id FROM agents WHERE name = '$1')"; }
# wait_stored NAME N SECONDS: 0 when N alerts of NAME are stored within SECONDS
wait_stored() {
    local end=$(($(date +%s) + $3))
    while [ "$(stored "$1")" -lt "$2" ]; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.05
    done
}
# wait_for PATTERN FILE SECONDS
wait_for() {
    local end=$(($(date +%s) + $3))
    until grep -qE -- "$1" "$2" 2>/dev/null; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.02
    done
}

# the collector: defaults (region.interval 500ms, min_orgs 2), SQLite, a free port
cat >"$tmp/c.yml" <<EOF
collector: {state_dir: $tmp/cs, listen: "127.0.0.1:0"}
stats: {interval: 0}
EOF
"$WC" -c "$tmp/c.yml" 2>"$tmp/coll.log" &
cpid=$!
pids="$pids $cpid"
wait_for 'listening on 127\.0\.0\.1:[0-9]+' "$tmp/coll.log" 10 || { echo "bench: the collector did not start"; cat "$tmp/coll.log"; exit 1; }
port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/coll.log" | head -1)

# agent_config NAME RULES SOURCE_PATH [collector]: $tmp/NAME.yml, state in $tmp/NAME
# (fresh), its key in $tmp/keys/NAME.key (made and enrolled in council ORG=NAME's first
# letter once)
agent_config() {
    local n=$1 rules=$2 src=$3
    rm -rf "${tmp:?}/$n" "$tmp/$n.alerts"
    mkdir -p "$tmp/$n"
    {
        echo "agent: {name: $n, state_dir: $tmp/$n}"
        echo "rules: {paths: [$rules]}"
        echo "sources:"
        echo "  - {type: file, name: in, paths: [$src], start_at: beginning}"
        echo "outputs: {file: {path: $tmp/$n.alerts}}"
        echo "stats: {interval: 0}"
        if [ -n "${4:-}" ]; then
            echo "collector:"
            echo "  address: 127.0.0.1:$port"
            echo "  ca: $tmp/cs/tls/ca.pem"
            echo "  server_name: localhost"
            echo "  feed_key: $tmp/cs/feed.pub"
            echo "  key: $tmp/keys/$n.key"
        fi
    } >"$tmp/$n.yml"
    if [ -n "${4:-}" ] && [ ! -f "$tmp/keys/$n.key" ]; then
        "$WA" keygen -c "$tmp/$n.yml" >/dev/null || exit 1
        "$WC" -c "$tmp/c.yml" enroll --org "council-$4" --agent "$n" --pubkey "$tmp/keys/$n.pub" >/dev/null || exit 1
    fi
}
# start NAME: the agent of $tmp/NAME.yml in the background, its log time-stamped in
# $tmp/NAME.log; its pid in apid
start() {
    "$WA" --foreground -c "$tmp/$1.yml" 2> >(stamp "$tmp/$1.log") &
    apid=$!
    pids="$pids $apid"
}
# stop: the agent last started (apid), SIGTERM
stop() {
    kill -TERM "$apid" 2>/dev/null
    wait "$apid" 2>/dev/null
    pids=${pids/ $apid/}
}

# ticks PID: the CPU time (user + system, in clock ticks) PID used so far
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# ---- 1. shipping throughput, fsync on ----
mkdir -p "$tmp/logs"
one=$(cat "$corpus"/*.log | wc -c)
copies=$(((size_mb * 1000000 + one - 1) / one))
i=0
while [ $i -lt "$copies" ]; do cat "$corpus"/*.log; i=$((i + 1)); done >"$tmp/logs/corpus.log"
bytes=$(wc -c <"$tmp/logs/corpus.log")
lines=$(wc -l <"$tmp/logs/corpus.log")
sync
echo "bench: shipping: $corpus/*.log x $copies = $((bytes / 1000000)) MB, $lines lines, shipped rules"
# median MS...: the median of three
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
# the baseline: the same agent and rules, the alerts file only (fsync'ed), --once; a
# warm-up run, then the median of three, as for the shipping run
runs=
for r in 0 1 2 3; do
    agent_config base rules "$tmp/logs/corpus.log"
    t0=$(now_ms)
    "$WA" --once -c "$tmp/base.yml" 2>"$tmp/base.log" || { echo "bench: the baseline agent failed"; cat "$tmp/base.log"; exit 1; }
    t1=$(now_ms)
    [ $r -gt 0 ] && runs="$runs $(perl -e 'printf "%.1f", $ARGV[1] - $ARGV[0]' "$t0" "$t1")"
done
alerts=$(wc -l <"$tmp/base.alerts")
base_ms=$(median $runs)
echo "bench: alerts file only, runs (ms):$runs"
# shipping: from the start of the agent until the collector has stored every alert
runs=
for r in 0 1 2 3; do
    agent_config ship rules "$tmp/logs/corpus.log" s
    before=$(stored ship)
    t0=$(now_ms)
    c0=$(ticks "$cpid")
    start ship
    wait_stored ship $((before + alerts)) 300 || echo "bench: only $(($(stored ship) - before)) of $alerts alerts stored in 300 s"
    t1=$(now_ms)
    acpu=$(ticks "$apid")
    ccpu=$(($(ticks "$cpid") - c0))
    stop
    last_ms=$(perl -e 'printf "%.1f", $ARGV[1] - $ARGV[0]' "$t0" "$t1")
    [ $r -gt 0 ] && runs="$runs $last_ms"
done
ship_ms=$(median $runs)
echo "bench: shipping, runs (ms):$runs"
perl -e 'my ($l, $n, $b, $base, $ship) = @ARGV;
    printf "bench: agent, alerts file only: %.2f s: %.0f lines/s, %.0f alerts/s (%d alerts, fsynced)\n",
        $base / 1000, $l * 1000 / $base, $n * 1000 / $base, $n;
    printf "bench: agent shipping to the collector (spool fsynced, SQLite), until all stored: %.2f s: " .
        "%.0f lines/s, %.0f alerts/s\n", $ship / 1000, $l * 1000 / $ship, $n * 1000 / $ship;
    printf "bench: ratio: shipping at %.3f of the alerts-file-only throughput\n", $base / $ship;
    printf "bench: CPU during the last shipping run: agent %.2f s, collector %.2f s (of %.2f s)\n",
        $ARGV[5] / $ARGV[7], $ARGV[6] / $ARGV[7], $ARGV[8] / 1000' \
    "$lines" "$alerts" "$bytes" "$base_ms" "$ship_ms" "$acpu" "$ccpu" "$(getconf CLK_TCK)" "$last_ms"
rm -f "$tmp/logs/corpus.log" "$tmp/ship.alerts" "$tmp/base.alerts"

# ---- 2. end-to-end latency ----
mkdir -p "$tmp/lat-logs"
: >"$tmp/lat-logs/l.log"
agent_config lat tests/data/rules/agent "$tmp/lat-logs/l.log" l
start lat
wait_for 'connected to collector' "$tmp/lat.log" 10 || { echo "bench: the latency agent did not connect"; cat "$tmp/lat.log"; exit 1; }
sleep 0.5
# the local file's side: each alert's seq and the time it appeared in the alerts file
perl -MTime::HiRes=time,usleep -e 'my ($f, $n) = @ARGV; my %seen; my $end = time + 60;
    open(my $in, "<", $f) or die "$f: $!"; my $buf = "";
    while (keys(%seen) < $n && time < $end) {
        my $r = sysread($in, $buf, 65536, length $buf);
        if (!$r) { usleep(200); next }
        my $t = time * 1000;
        while ($buf =~ s/^([^\n]*)\n//) { my $l = $1;
            $seen{$1} //= $t, print "$1 $t\n" if $l =~ /"seq":"?(\d+)/ }
    }' "$tmp/lat.alerts" "$lat_lines" >"$tmp/lat.file" &
tailer=$!
# the lines, at a steady rate: "seq write_time_ms"
perl -MTime::HiRes=time,sleep -e 'my ($f, $n, $rate) = @ARGV; open(my $o, ">>", $f) or die;
    select((select($o), $| = 1)[0]); my $t0 = time;
    for my $i (1 .. $n) { my $due = $t0 + ($i - 1) / $rate; my $d = $due - time; sleep($d) if $d > 0;
        printf STDOUT "%d %.3f\n", $i, time * 1000; print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n" }' \
    "$tmp/lat-logs/l.log" "$lat_lines" "$lat_rate" >"$tmp/lat.written"
wait "$tailer"
wait_stored lat "$lat_lines" 30 || echo "bench: only $(stored lat) of $lat_lines latency alerts stored"
stop
sql "SELECT received_ms, CAST(json AS TEXT) FROM alerts WHERE agent = (SELECT id FROM agents WHERE name = 'lat')" |
    perl -ne 'print "$2 $1\n" if /^(\d+)\|.*"seq":"?(\d+)/' >"$tmp/lat.stored"
perl -e 'my ($w, $f, $s, $n, $rate) = @ARGV; my %w;
    open(my $i, "<", $w) or die; while (<$i>) { my ($q, $t) = split; $w{$q} = $t }
    sub lat { my ($file) = @_; my @d; open(my $x, "<", $file) or die;
        while (<$x>) { my ($q, $t) = split; push @d, $t - $w{$q} if exists $w{$q} }
        @d = sort { $a <=> $b } @d; return (scalar @d, $d[int(@d / 2)] // 0, $d[int(@d * 0.99)] // 0) }
    my ($nf, $mf, $pf) = lat($f); my ($ns, $ms, $ps) = lat($s);
    printf "bench: latency (default group commits: 100 ms), %d lines at %d/s: line -> local alerts file: median %.1f ms, p99 %.1f ms (%d alerts)\n",
        $n, $rate, $mf, $pf, $nf;
    printf "bench: latency, line -> stored by the collector (received_ms): median %.1f ms, p99 %.1f ms (%d alerts)\n",
        $ms, $ps, $ns;
    printf "bench: ratio: collector median at %.2fx, p99 at %.2fx the local file'"'"'s\n",
        $mf ? $ms / $mf : 0, $pf ? $ps / $pf : 0' \
    "$tmp/lat.written" "$tmp/lat.file" "$tmp/lat.stored" "$lat_lines" "$lat_rate"

# ---- 3. a regional indicator reaching another council's agent ----
ip=203.0.113.99
for n in ra rb rc; do
    mkdir -p "$tmp/$n-logs"
    : >"$tmp/$n-logs/l.log"
    agent_config $n "tests/data/rules/agent, tests/data/rules/ship" "$tmp/$n-logs/l.log" "${n#r}"
    start $n
    eval "pid_$n=\$apid"
done
for n in ra rb rc; do
    wait_for 'connected to collector' "$tmp/$n.log" 10 || { echo "bench: $n did not connect"; cat "$tmp/$n.log"; exit 1; }
done
ssh() { echo "Dec  1 10:00:00 host sshd[7]: Failed password for root from $ip port 4242 ssh2" >>"$tmp/$1-logs/l.log"; }
ssh ra
wait_stored ra 1 10 || echo "bench: council-a's alert was not stored"
sleep 1
t0=$(now_ms)
ssh rb
# council-c's lines with the address, every 20 ms, "k write_time_ms", until ward.regional
perl -MTime::HiRes=time,sleep -e 'my ($f, $alerts, $ip) = @ARGV; open(my $o, ">>", $f) or die;
    select((select($o), $| = 1)[0]); my $end = time + 10;
    for (my $k = 1; time < $end; $k++) {
        printf STDOUT "%d %.3f\n", $k, time * 1000;
        print $o "$ip - - [01/Dec/2026:10:00:00 +0000] \"GET /p$k HTTP/1.1\" 200 1 \"-\" \"x\"\n";
        sleep(0.02);
        last if -s $alerts && `grep -c ward.regional $alerts` > 0 }' \
    "$tmp/rc-logs/l.log" "$tmp/rc.alerts" "$ip" >"$tmp/probes"
sleep 0.2
kill -USR1 "$pid_rc"
sleep 0.2
entries=$(perl -MJSON::PP -0777 -ne 'print decode_json($_)->{feed}{entries}' "$tmp/rc/stats.json" 2>/dev/null)
loaded=$(sed -n 's/^\([0-9.]*\) .*feed version [0-9]* from .* loaded: [1-9].*/\1/p' "$tmp/rc.log" | head -1)
k=$(perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{rule}{id} eq "ward.regional";
    print "$1\n" if $o->{event}{original} =~ m{GET /p(\d+)}; exit' "$tmp/rc.alerts")
for n in ra rb rc; do eval "apid=\$pid_$n"; stop; done
perl -e 'my ($t0, $loaded, $k, $probes, $entries) = @ARGV; my %w;
    open(my $i, "<", $probes) or die; while (<$i>) { my ($q, $t) = split; $w{$q} = $t }
    if ($k eq "" || !exists $w{$k}) { print "bench: regional indicator: council-c raised no ward.regional within 10 s: goal NOT met\n"; exit }
    my $line = $w{$k} - $t0;
    printf "bench: regional indicator: council-b alerts at t0; council-c loaded the feed at +%s ms (stats: %s entries), " .
        "its line %d written at +%.0f ms raised ward.regional: %s (goal 2000 ms)\n",
        $loaded ne "" ? sprintf("%.0f", $loaded - $t0) : "?", $entries // "?", $k, $line,
        $line <= 2000 ? "goal met" : "goal NOT met"' "$t0" "${loaded:-}" "${k:-}" "$tmp/probes" "${entries:-}"
kill -TERM "$cpid"
wait "$cpid"
pids=${pids/ $cpid/}

#!/bin/sh
# make bench, part 2: ward-agent end to end (file in, alerts out, fsync'ed) with the shipped
# rules on the sample corpus replicated to about 200 MB, against `cat FILE > /dev/null` in
# the same run; peak RSS; CPU used while idle.
#   bench/agent.sh WARD_AGENT_BINARY
# Environment: BENCH_MB (default 200), IDLE_S (seconds of the idle measurement, default 60).
set -eu
# Run as root (as on the test machines), the programs keep root, as the tests let them:
# the bench measures them, not their change to their users.
[ "$(id -u)" -ne 0 ] || export WARD_INSECURE_RUN_AS_ROOT=1
bin=${1:-build/ward-agent}
corpus=${WARD_CORPUS:-../shared/corpus}
size_mb=${BENCH_MB:-200}
idle_s=${IDLE_S:-60}
if ! ls "$corpus"/*.log >/dev/null 2>&1; then
    echo "bench: $corpus/*.log (the sample corpus) is needed" >&2
    exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ward-abench.XXXXXX")
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/logs" "$tmp/state" "$tmp/idle"
one=$(cat "$corpus"/*.log | wc -c)
copies=$(( (size_mb * 1000000 + one - 1) / one ))
i=0
while [ $i -lt "$copies" ]; do cat "$corpus"/*.log; i=$((i + 1)); done >"$tmp/logs/corpus.log"
bytes=$(wc -c <"$tmp/logs/corpus.log")
lines=$(wc -l <"$tmp/logs/corpus.log")
echo "bench: $corpus/*.log x $copies = $((bytes / 1000000)) MB, $lines lines"

cat >"$tmp/a.yml" <<EOF
agent: {state_dir: $tmp/state}
rules: {paths: [rules]}
sources:
  - {type: file, name: corpus, paths: [$tmp/logs/corpus.log], start_at: beginning}
outputs: {file: {path: $tmp/alerts.json}}
stats: {interval: 0}
EOF

now() { date +%s.%N; }
# the corpus just written is still going to disk: let that finish first, so that its
# writeback is not counted against the agent
sync
# the baseline: reading the same file, in the same run, after the same warm-up
cat "$tmp/logs/corpus.log" >/dev/null
t0=$(now); cat "$tmp/logs/corpus.log" >/dev/null; t1=$(now)
# the agent once to warm up, as cat was, then three times from scratch (fresh state,
# fresh alerts file); the median of the three counts
runs=""
for r in 0 1 2 3; do
    rm -rf "$tmp/state" "$tmp/alerts.json"
    mkdir -p "$tmp/state"
    sync
    t2=$(now); "$bin" --once -c "$tmp/a.yml" 2>"$tmp/agent.err"; t3=$(now)
    [ "$r" -gt 0 ] && runs="$runs $(awk -v a="$t2" -v b="$t3" 'BEGIN { printf "%.6f", b - a }')"
done
med=$(echo $runs | tr ' ' '\n' | sort -n | sed -n 2p)
alerts=$(wc -l <"$tmp/alerts.json")
rss=$(sed -n 's/.*"peak_rss_kib":\([0-9]*\).*/\1/p' "$tmp/state/stats.json")
echo "agent runs (s):$runs"
awk -v b="$bytes" -v l="$lines" -v c0="$t0" -v c1="$t1" -v ag="$med" -v n="$alerts" -v r="$rss" 'BEGIN {
    cat = c1 - c0;
    printf "cat:    %8.1f MB/s\n", b / cat / 1e6;
    printf "agent:  %8.1f MB/s  %10.0f lines/s  %d alerts (written and fsynced)\n", b / ag / 1e6, l / ag, n;
    printf "ratio:  agent at %.3f of cat; peak RSS %d KiB (%.1f MiB)\n", cat / ag, r, r / 1024;
}'

# idle: a running agent on a file nobody writes to
cat >"$tmp/idle.yml" <<EOF
agent: {state_dir: $tmp/idle}
rules: {paths: [rules]}
sources:
  - {type: file, name: quiet, paths: [$tmp/logs/corpus.log]}
outputs: {file: {path: $tmp/idle-alerts.json}}
stats: {interval: 0}
EOF
"$bin" --foreground -c "$tmp/idle.yml" 2>/dev/null &
pid=$!
sleep 2
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
c0=$(ticks)
sleep "$idle_s"
c1=$(ticks)
hz=$(getconf CLK_TCK)
kill "$pid"
wait "$pid" || true
pid=
awk -v a="$c0" -v b="$c1" -v s="$idle_s" -v hz="$hz" 'BEGIN {
    printf "idle:   %.3f%% of one core over %d s (%d ticks of 1/%d s)\n", (b - a) / hz / s * 100, s, b - a, hz }'

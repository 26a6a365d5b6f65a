#!/bin/bash
# make bench's scripts still run, end to end, on tiny inputs: each exits 0 and prints
# the figures it exists for, against its baseline. Nothing here is timed or compared
# (speed is make bench's business): the point is that make bench does not break
# unnoticed, as it did when the programs began to refuse root (the scripts now let them
# keep it, as the tests do).
. "$(dirname "$0")/lib.bash"
if [ ! -d ../shared/corpus ] || [ ! -d ../shared/bench ]; then
    ok "skipped: needs ../shared/corpus and ../shared/bench"
    finish
fi
if [ -n "${WARD_SANITIZE:-}" ]; then
    ok "skipped under ASan+UBSan: make bench runs the release build (this test runs in the plain pass)"
    finish
fi
unset WARD_INSECURE_RUN_AS_ROOT # the scripts must manage without the tests' setting

# bench_ok NAME OUT PATTERN...: the script exited 0 and printed every PATTERN (grep -E)
bench_ok() {
    local name=$1 out=$2 rc=$3
    shift 3
    [ "$rc" -eq 0 ] && ok "$name: exit 0" || { bad "$name: exit $rc"; tail -20 "$out"; }
    for p in "$@"; do expect_grep "$p" "$out" "$name prints /$p/"; done
}

BENCH_MB=2 NAIVE_BYTES=200000 sh bench/run.sh "$B/ward-rules" >"$T/run.out" 2>&1
bench_ok bench/run.sh "$T/run.out" $? '^ratio: [0-9.]+x  agree: yes' 'this set runs at [0-9.]+ of it'

BENCH_MB=2 IDLE_S=1 sh bench/agent.sh "$B/ward-agent" >"$T/agent.out" 2>&1
bench_ok bench/agent.sh "$T/agent.out" $? '^agent: .* [1-9][0-9]* alerts \(written and fsynced\)' \
    '^ratio:  agent at [0-9.]+ of cat' '^idle: '

AGENTS=2 BATCHES=2 PER_BATCH=50 RUNS=1 bash bench/collector.sh "$B" >"$T/coll.out" 2>&1
bench_ok bench/collector.sh "$T/coll.out" $? 'BASELINE alerts=200 ' \
    'collector ingest, sqlite: 200 alerts in .*x the store alone' 'collector ingest, postgresql .*: 200 alerts in'

SHIP_MB=1 LAT_LINES=20 LAT_RATE=200 bash bench/ship.sh "$B" >"$T/ship.out" 2>&1
bench_ok bench/ship.sh "$T/ship.out" $? 'ratio: shipping at [0-9.]+ of the alerts-file-only' \
    'latency, line -> stored by the collector .*: median [0-9.]+ ms' 'regional indicator: .*raised ward.regional'
finish

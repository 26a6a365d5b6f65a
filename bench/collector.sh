#!/bin/bash
# make bench, part 3: ward-collector ingest, alerts per second verified, inflated and
# stored, with N concurrent agents on loopback, for SQLite and for PostgreSQL (a
# throw-away server started with fsync off: its figure is not a durable one).
#   bench/collector.sh BUILD_DIR
# The load is one process, BUILD_DIR/collector-load (bench/collector-load.c): every
# agent's batches are compressed and signed before the clock starts; then one epoll
# loop drives N TLS connections (HELLO, WELCOME, batches eight in flight, ACKs). The
# rate is alerts acknowledged from the first connect to the last ACK. The baseline,
# measured in the same run: the same alerts stored through the SQLite store's
# store_batch in one process (no TLS, no signature, no inflate); ingest / baseline is
# printed. The collector's own CPU time comes from its stats file.
# Environment: AGENTS (default 100), BATCHES per agent (default 8), PER_BATCH alerts
# (default 500), RUNS (default 3: best and median are printed). Goal: 50,000 alerts/s
# with SQLite.
set -u
# Run as root (as on the test machines), the programs keep root, as the tests let them:
# the bench measures them, not their change to their users.
[ "$(id -u)" -ne 0 ] || export WARD_INSECURE_RUN_AS_ROOT=1
B=${1:-build}
agents=${AGENTS:-100}
batches=${BATCHES:-8}
runs=${RUNS:-3}
per=${PER_BATCH:-500}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ward-cbench.XXXXXX")
pid=
pg=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pg" ] && sh tests/lib/pg.sh stop "$pg" >/dev/null 2>&1; rm -rf "$tmp"' EXIT INT TERM

# one realistic alert (docs/alerts.md), PER_BATCH of them with other addresses
perl -e 'my ($n) = @ARGV; my @t = gmtime(time);
  my $ts = sprintf("%04d-%02d-%02dT%02d:%02d:%02d.000Z", $t[5]+1900,$t[4]+1,$t[3],$t[2],$t[1],$t[0]);
  for my $i (1..$n) { my $ip = "10.".($i % 256).".".int($i / 256).".7";
  print "{\"\@timestamp\":\"$ts\",\"event\":{\"kind\":\"alert\",\"id\":\"".sprintf("%032x", $i)."\",\"module\":\"ward\",\"dataset\":\"ward.alert\",\"severity\":21,\"created\":\"$ts\",\"original\":\"Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster from $ip\"},\"message\":\"Invalid user webmaster from $ip\",\"rule\":{\"id\":\"ward-sshd-invalid-user\",\"name\":\"SSH login attempt for an unknown user\",\"description\":\"An SSH login for a user that does not exist\",\"author\":\"ward\",\"ruleset\":\"ward\"},\"tags\":[\"attack.credential_access\",\"attack.t1110.001\"],\"agent\":{\"id\":\"web01\",\"name\":\"web01\",\"type\":\"ward-agent\",\"version\":\"0.1.0\"},\"host\":{\"name\":\"web01\"},\"log\":{\"file\":{\"path\":\"/var/log/auth.log\"},\"offset\":4096},\"source\":{\"ip\":\"$ip\"},\"user\":{\"name\":\"webmaster\"},\"process\":{\"name\":\"sshd\",\"pid\":24200},\"ward\":{\"level\":\"low\",\"mode\":\"alert\",\"source\":{\"kind\":\"file\",\"name\":\"auth\"},\"decoder\":\"syslog\",\"fields\":{\"timestamp\":\"Dec 10 06:55:46\",\"host\":\"LabSZ\",\"program\":\"sshd\",\"pid\":\"24200\"},\"extracted\":{\"user\":\"webmaster\",\"src_ip\":\"$ip\"}}}\n" }' "$per" >"$tmp/alerts.json"
echo "bench: $agents agents x $batches batches x $per alerts of $(($(wc -c <"$tmp/alerts.json") / per)) bytes"

"$B/collector-load" keygen "$tmp" "$agents" || exit 1

run() { # NAME STORE_YAML
    local name=$1 st=$2 cs="$tmp/cs-$1"
    printf 'collector: {state_dir: %s, listen: "127.0.0.1:0"}\nstats: {interval: 0}\n%s\n' "$cs" "$st" >"$tmp/$name.yml"
    # a PostgreSQL database outlives the state directory: enrolled once
    [ -e "$tmp/enrolled-$name" ] || for i in $(seq 1 "$agents"); do
        "$B/ward-collector" -c "$tmp/$name.yml" enroll --org "org$((i % 4))" --agent "a$i" --pubkey "$tmp/k$i.pub" >/dev/null || exit 1
    done
    [ "$name" = sqlite ] || touch "$tmp/enrolled-$name"
    "$B/ward-collector" -c "$tmp/$name.yml" 2>"$tmp/$name.log" &
    pid=$!
    local port= n=0
    while [ -z "$port" ] && [ $n -lt 100 ]; do
        sleep 0.05
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.log")
        n=$((n + 1))
    done
    [ -n "$port" ] || { echo "bench: the collector did not start"; cat "$tmp/$name.log"; exit 1; }
    local out stored
    out=$("$B/collector-load" run --connect "127.0.0.1:$port" --ca "$cs/tls/ca.pem" --keys "$tmp" \
        --agents "$agents" --batches "$batches" --alerts "$tmp/alerts.json" 2>"$tmp/$name.load")
    stored=$(echo "$out" | sed -n 's/^LOAD alerts=\([0-9]*\).*/\1/p')
    rate=$(echo "$out" | sed -n 's/^LOAD .* rate=\([0-9]*\).*/\1/p')
    secs=$(echo "$out" | sed -n 's/^LOAD .* ms=\([0-9.]*\).*/\1/p')
    kill "$pid"
    wait "$pid"
    pid=
    # the collector's own CPU time: from its stats file
    local cpu
    cpu=$(sed -n 's/.*"cpu_ms":\([0-9]*\).*/\1/p' "$cs/stats.json")
    perl -e 'my ($n, $ms, $name, $cpu, $rate, $base, $note) = @ARGV;
             printf "bench: collector ingest, %s%s: %d alerts in %.2f s: %.0f alerts/s%s" .
                    "%s; collector CPU %.2f s: %.0f alerts per CPU second\n",
                    $name, $note, $n, $ms / 1000, $rate, $name eq "sqlite" ? " (goal 50000)" : "",
                    $base ? sprintf(", %.2fx the store alone", $rate / $base) : "",
                    $cpu / 1000, $cpu ? $n * 1000 / $cpu : 0' \
        "${stored:-0}" "${secs:-0}" "$name" "${cpu:-0}" "${rate:-0}" "$3" "$4"
    [ "${stored:-0}" -eq $((agents * batches * per)) ] ||
        { echo "bench: only ${stored:-0} of $((agents * batches * per)) acknowledged"; cat "$tmp/$name.load"; }
    rm -rf "$cs"
    echo "${rate:-0}" >>"$tmp/rates-$name"
}

# best and median of RUNS figures (one a line in FILE)
summary() { # NAME FILE [BASELINE]
    sort -n "$2" | awk -v name="$1" -v base="${3:-0}" '{ v[NR] = $1 } END {
        med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
        printf "bench: %s over %d runs: best %.0f alerts/s, median %.0f", name, NR, v[NR], med;
        if (base > 0) printf " (median %.2fx the baseline median)", med / base;
        printf "\n" }'
}

# the baseline: the SQLite store alone, the same alerts, in this process
for r in $(seq 1 "$runs"); do
    rm -f "$tmp/base.db"*
    b=$("$B/collector-load" baseline --db "$tmp/base.db" --agents "$agents" --batches "$batches" \
        --alerts "$tmp/alerts.json") || { echo "bench: the baseline failed: $b"; exit 1; }
    echo "bench: baseline, the SQLite store alone (store_batch per batch, synchronous=FULL): $b"
    echo "$b" | sed -n 's/.* rate=\([0-9]*\).*/\1/p' >>"$tmp/rates-baseline"
done
rm -f "$tmp/base.db"*
summary "baseline" "$tmp/rates-baseline"
base=$(sort -n "$tmp/rates-baseline" | awk '{ v[NR] = $1 } END { print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')

for r in $(seq 1 "$runs"); do run sqlite "store: {type: sqlite}" "$base" ""; done
summary "ingest, sqlite" "$tmp/rates-sqlite" "$base"
if pg=$(sh tests/lib/pg.sh start $$ 2>"$tmp/pg.err"); then
    for r in $(seq 1 "$runs"); do
        run postgresql "store: {type: postgresql, conninfo: \"$pg\"}" "" \
            " (test server with fsync off: not durable)"
    done
    summary "ingest, postgresql (fsync off)" "$tmp/rates-postgresql"
else
    echo "bench: PostgreSQL did not start: skipped"
    cat "$tmp/pg.err"
fi

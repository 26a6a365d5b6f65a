#!/bin/bash
# make bench, part 3: ward-collector ingest, alerts per second verified, inflated and
# stored, with N concurrent agents (wire-client flood: signed batches, eight in flight
# each) on loopback, for SQLite and for PostgreSQL (a throw-away server, fsync off).
#   bench/collector.sh BUILD_DIR
# Environment: AGENTS (default 100), BATCHES per agent (default 4), PER_BATCH alerts
# (default 500). Goal: 50,000 alerts/s with SQLite.
set -u
B=${1:-build}
agents=${AGENTS:-100}
batches=${BATCHES:-4}
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

for i in $(seq 1 "$agents"); do "$B/wire-client" --keygen "$tmp/k$i.key" "$tmp/k$i.pub" || exit 1; done

run() { # NAME STORE_YAML
    local name=$1 st=$2 cs="$tmp/cs-$1"
    printf 'collector: {state_dir: %s, listen: "127.0.0.1:0"}\nstats: {interval: 0}\n%s\n' "$cs" "$st" >"$tmp/$name.yml"
    for i in $(seq 1 "$agents"); do
        "$B/ward-collector" -c "$tmp/$name.yml" enroll --org "org$((i % 4))" --agent "a$i" --pubkey "$tmp/k$i.pub" >/dev/null || exit 1
    done
    "$B/ward-collector" -c "$tmp/$name.yml" 2>"$tmp/$name.log" &
    pid=$!
    local port= n=0
    while [ -z "$port" ] && [ $n -lt 100 ]; do
        sleep 0.05
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.log")
        n=$((n + 1))
    done
    [ -n "$port" ] || { echo "bench: the collector did not start"; cat "$tmp/$name.log"; exit 1; }
    local t0 t1
    t0=$(date +%s.%N)
    for i in $(seq 1 "$agents"); do
        "$B/wire-client" --connect "127.0.0.1:$port" --ca "$cs/tls/ca.pem" --key "$tmp/k$i.key" \
            --timeout 120000 hello flood 1 "$batches" "$tmp/alerts.json" >"$tmp/$name.c$i" 2>&1 &
    done
    wait $(jobs -p | grep -v "^$pid$")
    t1=$(date +%s.%N)
    local stored
    stored=$(cat "$tmp/$name".c* | sed -n 's/^FLOOD alerts=\([0-9]*\).*/\1/p' | awk '{s += $1} END {print s + 0}')
    kill "$pid"
    wait "$pid"
    pid=
    # the collector's own CPU time (the clients share the machine): from its stats file
    local cpu
    cpu=$(sed -n 's/.*"cpu_ms":\([0-9]*\).*/\1/p' "$cs/stats.json")
    perl -e 'my ($n, $t0, $t1, $name, $cpu) = @ARGV; my $s = $t1 - $t0;
             printf "bench: collector ingest, %s: %d alerts in %.2f s: %.0f alerts/s (goal 50000); " .
                    "collector CPU %.2f s: %.0f alerts per CPU second\n",
                    $name, $n, $s, $n / $s, $cpu / 1000, $cpu ? $n * 1000 / $cpu : 0' \
        "$stored" "$t0" "$t1" "$name" "${cpu:-0}"
    [ "$stored" -eq $((agents * batches * per)) ] || echo "bench: only $stored of $((agents * batches * per)) acknowledged"
}

run sqlite "store: {type: sqlite}"
if pg=$(sh tests/lib/pg.sh start $$ 2>"$tmp/pg.err"); then
    run postgresql "store: {type: postgresql, conninfo: \"$pg\"}"
else
    echo "bench: PostgreSQL did not start: skipped"
    cat "$tmp/pg.err"
fi

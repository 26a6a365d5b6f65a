#!/bin/sh
# make demo: a regional collector and the agents of two councils on loopback.
#   tools/demo.sh BUILD_DIR
# Eastshire's agent reads the sample logs in tests/data/demo; both councils then see the
# same attacker (203.0.113.50, sqlmap against their web sites) in lines written now. The
# collector stores every alert once, finds the address at two organisations within its
# window and publishes it in the signed feed; Eastshire's agent loads the feed and alerts
# (ward.regional) on the next line that address sends. Everything runs in build/demo
# (or $WARD_DEMO_DIR).
set -eu
# The demo runs from the build tree as whoever started it; as root (CI), the programs stay
# root (still sandboxed) instead of becoming the users ward and ward-collector, who may
# not exist here or reach the build tree.
[ "$(id -u)" -ne 0 ] || export WARD_INSECURE_RUN_AS_ROOT=1
B=${1:-build}
D=${WARD_DEMO_DIR:-$(pwd)/build/demo}
rm -rf "$D"
mkdir -p "$D/collector" "$D/eastshire/logs" "$D/westshire/logs"
COLL=
AGENTS=
stop_all() {
    for p in $AGENTS $COLL; do kill -TERM "$p" 2>/dev/null || true; done
    for p in $AGENTS $COLL; do wait "$p" 2>/dev/null || true; done
    AGENTS=
    COLL=
}
trap 'stop_all' EXIT
trap 'exit 1' INT TERM

# wait_for SECONDS COMMAND...: polls COMMAND every 0.1 s until it succeeds
wait_for() {
    n=$(($1 * 10))
    shift
    while ! "$@" >/dev/null 2>&1; do
        n=$((n - 1))
        [ "$n" -gt 0 ] || return 1
        sleep 0.1
    done
}

cat >"$D/collector.yml" <<EOF
collector: {state_dir: $D/collector, listen: "127.0.0.1:0"}
store: {type: sqlite}
region: {indicator_fields: [src_ip], min_orgs: 2, window: 1h, interval: 200ms}
stats: {interval: 0}
EOF
"$B/ward-collector" -c "$D/collector.yml" 2>"$D/collector.log" &
COLL=$!
listening() { grep -q 'listening on 127\.0\.0\.1:' "$D/collector.log"; }
wait_for 10 listening || { cat "$D/collector.log" >&2; exit 1; }
PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$D/collector.log" | head -1)
echo "== ward-collector on 127.0.0.1:$PORT (TLS, its demo CA in $D/collector/tls; SQLite store)"

now_web() { LC_ALL=C date -u +'%d/%b/%Y:%H:%M:%S +0000'; }
cp tests/data/demo/auth.log tests/data/demo/access.log "$D/eastshire/logs/"
for c in eastshire westshire; do
    cat >"$D/$c.yml" <<EOF
agent: {name: $c-web1, state_dir: $D/$c/state}
rules: {paths: ["$(pwd)/rules"]}
sources:
  - {type: file, name: logs, paths: ["$D/$c/logs/*.log"], start_at: beginning}
outputs:
  file: {path: $D/$c/alerts.json}
collector:
  address: "127.0.0.1:$PORT"
  ca: $D/collector/tls/ca.pem
  feed_key: $D/collector/feed.pub
stats: {interval: 0}
EOF
    "$B/ward-agent" -c "$D/$c.yml" keygen >"$D/$c/keygen.txt"
    "$B/ward-collector" -c "$D/collector.yml" enroll --org "$c" --agent "$c-web1" \
        --pubkey "$D/$c/state/agent.pub" >/dev/null
    echo "== $c: ward-agent keygen, then ward-collector enroll --org $c --agent $c-web1"
done

for c in eastshire westshire; do
    "$B/ward-agent" --foreground -c "$D/$c.yml" 2>"$D/$c/agent.log" &
    AGENTS="$AGENTS $!"
done
# both councils are probed by the same address now (Westshire's log starts with it)
t=$(now_web)
printf '%s\n' \
    "203.0.113.50 - - [$t] \"GET /news.php?id=1%20UNION%20SELECT%20username,password%20FROM%20users HTTP/1.1\" 200 912 \"-\" \"sqlmap/1.7.2#stable (https://sqlmap.org)\"" \
    >>"$D/eastshire/logs/access.log"
printf '%s\n' \
    "198.51.100.20 - - [$t] \"GET / HTTP/1.1\" 200 5120 \"-\" \"Mozilla/5.0 (X11; Linux x86_64)\"" \
    "203.0.113.50 - - [$t] \"GET /planning/search?q=1%27%20or%201=1--%20- HTTP/1.1\" 200 400 \"-\" \"sqlmap/1.7.2#stable (https://sqlmap.org)\"" \
    >"$D/westshire/logs/access.log"

stored() { "$B/ward-collector" -c "$D/collector.yml" query --json 2>/dev/null | wc -l; }
local_alerts() { cat "$D"/*/alerts.json 2>/dev/null | wc -l; }
all_stored() { [ "$(stored)" -gt 0 ] && [ "$(stored)" -eq "$(local_alerts)" ]; }
regional() { "$B/ward-collector" -c "$D/collector.yml" feed --format list 2>/dev/null | grep -q .; }
loaded() { grep -q '"feed_version": *[1-9]' "$D/eastshire/state/stats.json" 2>/dev/null ||
    grep -q 'feed version [1-9]' "$D/eastshire/agent.log"; }
wait_for 30 all_stored || { echo "demo: not every alert reached the collector" >&2; exit 1; }
wait_for 10 regional || { echo "demo: no regional indicator" >&2; cat "$D/collector.log" >&2; exit 1; }
wait_for 10 loaded || { echo "demo: Eastshire's agent did not load the feed" >&2; exit 1; }

# the same address comes back to Eastshire with an ordinary request: no rule matches it,
# the regional indicator does
printf '%s\n' "203.0.113.50 - - [$(now_web)] \"GET /council-tax HTTP/1.1\" 200 2048 \"-\" \"Mozilla/5.0\"" \
    >>"$D/eastshire/logs/access.log"
has_regional() { grep -q '"ward.regional"' "$D/eastshire/alerts.json"; }
wait_for 10 has_regional || { echo "demo: no ward.regional alert at Eastshire" >&2; exit 1; }
wait_for 10 all_stored || true
stop_all

echo "== Eastshire's alerts, as its agent wrote them to its own file"
perl tools/alerts-table.pl "$D/eastshire/alerts.json"
echo "== stored in the collector, by council (ward-collector query)"
"$B/ward-collector" -c "$D/collector.yml" query --json >"$D/stored.json"
for c in eastshire westshire; do
    printf '   %-10s %s alerts\n' "$c" "$(grep -c "\"org\": *\"$c\"" "$D/stored.json" || true)"
done
echo "== the newest stored alerts (ward-collector query | tail -5)"
"$B/ward-collector" -c "$D/collector.yml" query | tail -5
echo "== regional indicators (ward-collector feed --format list)"
"$B/ward-collector" -c "$D/collector.yml" feed --format list
echo "== Eastshire's agent on the address's next line, which no rule matches (ward.regional)"
grep '"ward.regional"' "$D/eastshire/alerts.json" | perl tools/alerts-table.pl | head -1
echo "== files: $D/{eastshire,westshire}/alerts.json (each agent's alerts), $D/collector/"

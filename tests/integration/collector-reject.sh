#!/bin/bash
# The collector refuses, names (peer address, agent key) and counts every bad session:
# a tampered batch, an unknown key, a revoked key, a wrong version (in HELLO and in a
# batch), a decompression bomb, a gap, an oversized frame, a frame that does not decode,
# an alert that is not JSON; a replay is acknowledged and not stored again; what is sent
# is stored exactly once. The operator's commands (enroll, revoke, list, query, stats,
# feed, --check) work on the same store.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/collector_lib.bash"

CFG="$T/c.yml"
write_coll_config "$CFG" "limits: {max_batch_alerts: 20}"

# --- --check: a good and a bad configuration
"$WC" -c "$CFG" --check >"$T/out" 2>&1 && ok "--check accepts the test configuration" || { bad "--check"; cat "$T/out"; }
printf 'collector: {state_dir: %s}\nregion:\n  min_orgz: 3\n  allow: ["10.0.0.0/33"]\n' "$T/cs" >"$T/bad.yml"
"$WC" -c "$T/bad.yml" --check >"$T/out" 2>&1
rc=$?
[ "$rc" -eq 1 ] && ok "--check exits 1 on a bad configuration" || bad "--check exit status $rc"
expect_grep "$T/bad.yml:3:[0-9]+: .*unknown key 'min_orgz'" "$T/out" "an unknown key is named with file:line"
"$WC" -c "$T/bad.yml" >"$T/out" 2>&1 && bad "the daemon started with a bad configuration" || ok "the daemon refuses a bad configuration"
printf 'collector: {state_dir: %s}\nregion:\n  allow: ["10.0.0.0/33"]\n' "$T/cs" >"$T/bad2.yml"
"$WC" -c "$T/bad2.yml" --check >"$T/out" 2>&1
expect_grep "$T/bad2.yml:[0-9]+:[0-9]+: .*allow\[0\].*prefix" "$T/out" "a bad CIDR is named with file:line"

# --- no configuration at all: the built-in defaults, state in ./state-collector
mkdir -p "$T/demo"
wc_abs=$(cd "$(dirname "$WC")" && pwd)/$(basename "$WC")
(cd "$T/demo" && "$wc_abs" list) >"$T/out" 2>&1 && ok "without a configuration file the built-in defaults work" || { bad "built-in defaults"; cat "$T/out"; }
[ -f "$T/demo/state-collector/collector.db" ] && ok "the built-in state directory is ./state-collector" || bad "no ./state-collector/collector.db"

# --- keys and enrolment
for k in a1 a2 stranger; do "$WCL" --keygen "$T/$k.key" "$T/$k.pub" || bad "keygen $k"; done
"$WC" -c "$CFG" enroll --org council-a --agent a1 --pubkey "$T/a1.pub" >"$T/out" 2>&1 && ok "enroll a1" || { bad "enroll a1"; cat "$T/out"; }
expect_grep '^enrolled council-a/a1, key [0-9a-f]{64}$' "$T/out" "enroll prints the key's fingerprint"
"$WC" -c "$CFG" enroll --org council-b --agent a2 --pubkey "$T/a2.pub" >/dev/null 2>&1 || bad "enroll a2"
"$WC" -c "$CFG" enroll --org council-b --agent a3 --pubkey "$T/a1.pub" >"$T/out" 2>&1 && bad "a key enrolled twice" || ok "a key cannot be enrolled twice"
"$WC" -c "$CFG" enroll --org council-b --agent a1 --pubkey "$T/stranger.pub" >"$T/out" 2>&1 && bad "a name enrolled twice" || ok "a name cannot be enrolled twice"
"$WC" -c "$CFG" enroll --org x --agent y --pubkey "$T/nope.pub" >"$T/out" 2>&1 && bad "enroll of a missing file" || expect_grep "nope.pub" "$T/out" "a missing key file is named"
"$WC" -c "$CFG" enroll --org x >"$T/out" 2>&1
[ $? -eq 2 ] && ok "enroll without --agent is a usage error" || bad "enroll usage"

start_collector "$CFG" || finish
[ -s "$T/cs/feed.key" ] && [ -s "$T/cs/feed.pub" ] && ok "the feed key was made at first start" || bad "no feed key"
[ "$(stat -c %a "$T/cs/feed.key")" = 600 ] && ok "the feed key is mode 0600" || bad "feed key mode $(stat -c %a "$T/cs/feed.key")"
expect_grep "demo CA" "$T/coll.log" "the demo CA is logged"

# --- valid batches: stored once each
gen_alerts "$T/five-high.json" 5 203.0.113.7 r-ssh high
gen_alerts "$T/five-low.json" 5 198.51.100.1 r-web low
client "$T/a1.key" hello batch 1 "$T/five-high.json" batch 6 "$T/five-low.json" >"$T/s1" 2>&1
expect_grep '^WELCOME epoch=1 acked=0$' "$T/s1" "HELLO of an enrolled key: WELCOME, nothing stored yet"
expect_grep '^ACK epoch=1 acked=5$' "$T/s1" "the first batch is acknowledged"
expect_grep '^ACK epoch=1 acked=10$' "$T/s1" "the second batch is acknowledged"

# --- a replay: acknowledged, not stored again
client "$T/a1.key" hello batch 1 "$T/five-high.json" batch 6 "$T/five-low.json" >"$T/s2" 2>&1
expect_grep '^WELCOME epoch=1 acked=10$' "$T/s2" "a new session learns what is stored"
[ "$(grep -c '^ACK epoch=1 acked=10$' "$T/s2")" -eq 2 ] && ok "replayed batches are acknowledged" || { bad "replay acks"; cat "$T/s2"; }
expect_stat daemon.replays 2 "replays are counted"
expect_stat daemon.alerts_replayed 10 "replayed alerts are counted"
# another epoch is another sequence
client "$T/a1.key" --epoch 7 hello batch 1 "$T/five-high.json" >"$T/s3" 2>&1
expect_grep '^ACK epoch=7 acked=5$' "$T/s3" "epoch 7 starts its own sequence"

# --- batches in flight together go to the store together, and are acknowledged each
gen_alerts "$T/two.json" 2 203.0.113.8 r-ssh high
client "$T/a1.key" hello burst 11 3 "$T/two.json" 0 >"$T/s4" 2>&1
[ "$(grep -c '^ACK epoch=1 acked=16$' "$T/s4")" -eq 3 ] && ok "three batches sent at once: three ACKs of everything stored" || { bad "burst acks"; cat "$T/s4"; }
expect_stat daemon.batches 8 "every batch is counted"
t=$(coll_stat daemon.transactions)
b=$(coll_stat daemon.batches)
[ "$t" -lt "$b" ] && ok "batches in flight together are stored in fewer transactions ($b batches, $t)" || bad "no batch was grouped ($b batches, $t transactions)"
# the second of three is tampered: the first is stored and acknowledged, then ERROR
client "$T/a1.key" hello burst 17 3 "$T/two.json" 2 expect-close >"$T/s5" 2>&1
expect_grep '^ACK epoch=1 acked=18$' "$T/s5" "the batch before a tampered one is stored and acknowledged"
expect_grep '^ERROR code=5 ' "$T/s5" "the tampered one in the middle is refused"
grep -q 'acked=2[0-9]' "$T/s5" && bad "a batch after the tampered one was stored" || ok "nothing after the tampered one is stored"
client "$T/a1.key" hello >"$T/s6" 2>&1
expect_grep '^WELCOME epoch=1 acked=18$' "$T/s6" "the collector has stored up to the tampered batch"

# --- rejections: each answered with ERROR, closed, logged with the peer, counted
reject_case() { # NAME CODE KEY STEPS...
    local name=$1 code=$2 key=$3
    shift 3
    client "$key" "$@" expect-close >"$T/r-$name" 2>&1
    if grep -q "^ERROR code=$code " "$T/r-$name" && grep -q '^CLOSED$' "$T/r-$name"; then
        ok "$name: ERROR $code and the connection closes"
    else
        bad "$name: expected ERROR code=$code then CLOSED"
        sed 's/^/    /' "$T/r-$name"
    fi
}
gen_alerts "$T/one.json" 1 203.0.113.9 r-ssh high
reject_case tampered 5 "$T/a1.key" hello tamper 19 "$T/one.json"
reject_case batch-version 2 "$T/a1.key" hello version 19 "$T/one.json"
reject_case hello-version 2 "$T/a1.key" hello-version 2
reject_case unknown 3 "$T/stranger.key" hello
reject_case bomb 7 "$T/a1.key" hello bomb 19
reject_case gap 8 "$T/a1.key" hello batch 21 "$T/one.json"
reject_case too-large 6 "$T/a1.key" hello bigframe 100000000
gen_alerts "$T/many.json" 21 203.0.113.9 r-ssh high
reject_case too-many 6 "$T/a1.key" hello batch 19 "$T/many.json"
reject_case malformed 1 "$T/a1.key" hello frame 3 00
reject_case before-hello 1 "$T/a1.key" frame 5 0000000000000000
echo 'this is not JSON' >"$T/notjson.json"
reject_case not-json 1 "$T/a1.key" hello batch 19 "$T/notjson.json"
"$WC" -c "$CFG" revoke --agent a2 >"$T/out" 2>&1 && ok "revoke a2" || { bad "revoke"; cat "$T/out"; }
reject_case revoked 4 "$T/a2.key" hello
"$WC" -c "$CFG" revoke --agent nobody >"$T/out" 2>&1 && bad "revoke of an unknown agent" || ok "revoking an unknown agent fails"

expect_stat daemon.rejected.signature 2 "the tampered batches are counted"
expect_stat daemon.rejected.version 2 "both wrong versions are counted"
expect_stat daemon.rejected.unknown 1 "the unknown key is counted"
expect_stat daemon.rejected.revoked 1 "the revoked key is counted"
expect_stat daemon.rejected.bomb 1 "the bomb is counted"
expect_stat daemon.rejected.gap 1 "the gap is counted"
expect_stat daemon.rejected.too_large 2 "the oversized frame and the batch of too many alerts are counted"
expect_stat daemon.rejected.malformed 3 "the undecodable frames and the non-JSON alert are counted"
expect_stat daemon.rejected.total 13 "every rejection is counted once"
expect_grep 'rejected from 127\.0\.0\.1:[0-9]+ \(agent council-a/a1, key [0-9a-f]{16}\): bad signature' "$T/coll.log" "a bad signature is logged with the peer and the key"
expect_grep 'rejected from 127\.0\.0\.1:[0-9]+: .*key [0-9a-f]{64} is not enrolled' "$T/coll.log" "an unknown key is logged with the peer and its fingerprint"
expect_grep 'rejected from 127\.0\.0\.1:[0-9]+: .*revoked' "$T/coll.log" "a revoked key is logged with the peer"
expect_grep 'rejected from 127\.0\.0\.1:[0-9]+ .*: (decompression bomb|compression ratio|bomb)' "$T/coll.log" "the bomb is logged with the peer"

# --- exactly once: 18 alerts of epoch 1, 5 of epoch 7, nothing of the rejected sessions
n=$("$WC" -c "$CFG" query --json | wc -l)
[ "$n" -eq 23 ] && ok "23 alerts are stored, each once" || bad "query --json gives $n alerts, not 23"
"$WC" -c "$CFG" query --json | perl -MJSON::PP -ne 'my $j = decode_json($_); print "$j->{org} $j->{agent} $j->{seq} $j->{alert}{rule}{id}\n"' | sort >"$T/q"
# epoch 7 repeats seq 1..5 of epoch 1 (the same alerts): 18 distinct (seq, rule)
[ "$(wc -l <"$T/q")" -eq 23 ] && [ "$(sort -u "$T/q" | wc -l)" -eq 18 ] && ok "query --json lines are JSON with org, agent, seq and the alert" || { bad "query --json"; cat "$T/q"; }
expect_grep '^council-a a1 10 r-web$' "$T/q" "seq 10 is the last alert of the second batch"
n=$("$WC" -c "$CFG" query --json --rule r-web | wc -l)
[ "$n" -eq 5 ] && ok "query --rule" || bad "query --rule r-web gives $n"
n=$("$WC" -c "$CFG" query --json --level high | wc -l)
[ "$n" -eq 18 ] && ok "query --level high" || bad "query --level high gives $n"
n=$("$WC" -c "$CFG" query --json --org council-b | wc -l)
[ "$n" -eq 0 ] && ok "query --org" || bad "query --org council-b gives $n"
n=$("$WC" -c "$CFG" query --json --since 1h --limit 3 | wc -l)
[ "$n" -eq 3 ] && ok "query --since 1h --limit 3" || bad "query --since --limit gives $n"
n=$("$WC" -c "$CFG" query --json --until 2000-01-01 | wc -l)
[ "$n" -eq 0 ] && ok "query --until in the past" || bad "query --until 2000-01-01 gives $n"
"$WC" -c "$CFG" query --since yesterday >"$T/out" 2>&1
[ $? -eq 2 ] && expect_grep "since 'yesterday'" "$T/out" "a bad --since is a usage error"
"$WC" -c "$CFG" query --level high >"$T/out" 2>&1
expect_grep '^TIME +ORG' "$T/out" "query prints a table"
expect_grep ' council-a +a1 +1 +high +r-ssh$' "$T/out" "the table has the time, org, agent, seq, level and rule"

"$WC" -c "$CFG" list >"$T/out" 2>&1
expect_grep '^council-a +a1 +[0-9a-f]{16} .* active$' "$T/out" "list shows a1 active"
expect_grep '^council-b +a2 .* revoked$' "$T/out" "list shows a2 revoked"
"$WC" -c "$CFG" list --json >"$T/out" 2>&1
expect_grep '^\{"org":"council-b","agent":"a2","fingerprint":"[0-9a-f]{64}".*"revoked":"20' "$T/out" "list --json"

"$WC" -c "$CFG" stats >"$T/out" 2>&1
perl -MJSON::PP -e 'local $/; decode_json(<STDIN>)' <"$T/out" && ok "stats is one JSON object" || { bad "stats"; cat "$T/out"; }
expect_grep '"store":\{"type":"sqlite"' "$T/out" "stats names the store"
"$WC" -c "$CFG" feed --format list >"$T/out" 2>&1 && ok "feed --format list runs" || { bad "feed list"; cat "$T/out"; }
[ ! -s "$T/out" ] && ok "one organisation's addresses are not in the feed" || { bad "the feed is not empty"; cat "$T/out"; }
"$WC" -c "$CFG" feed --format nft --table fw --set ward >"$T/out" 2>&1 && ok "feed --format nft runs" || { bad "feed nft"; cat "$T/out"; }
"$WC" -c "$CFG" feed --format xml >"$T/out" 2>&1
[ $? -eq 2 ] && ok "an unknown feed format is a usage error" || bad "feed --format xml"
"$WC" -c "$CFG" keygen >"$T/out" 2>&1 && bad "keygen overwrote the feed key" || expect_grep "feed.key" "$T/out" "keygen refuses to overwrite the key, naming it"

stop_collector
no_sanitizer_report "$T/coll.log" ward-collector
expect_grep '"alerts_stored":23' "$T/cs/stats.json" "the stats file is written at exit"
finish

#!/bin/bash
# make demo's scenario (tools/demo.sh): a collector and two councils' agents; every alert
# stored once, the shared attacker becomes a regional indicator and Eastshire's agent
# alerts ward.regional on its next line.
. "$(dirname "$0")/lib.bash"
export WARD_DEMO_DIR="$T/demo"
if timeout 120 sh tools/demo.sh "$B" >"$T/out" 2>"$T/err"; then ok "the demo runs to its end"; else
    bad "the demo failed"; cat "$T/out" "$T/err"; finish; fi
for f in "$T/err" "$T"/demo/*/agent.log "$T/demo/collector.log"; do
    grep -q Sanitizer "$f" && { bad "sanitizer report in $f"; head -20 "$f"; }
done
expect_grep '^203\.0\.113\.50$' "$T/out" "the shared attacker is the regional indicator"
n=$(grep -c '^203\.0\.113\.50$' "$T/out")
[ "$n" -eq 1 ] && ok "only that address is regional" || bad "regional list: $n lines"
expect_grep '^high +ward\.regional +.*access\.log:[0-9]+ src=203\.0\.113\.50$' "$T/out" \
    "Eastshire alerts ward.regional on the address's next line"
local_e=$(wc -l <"$T/demo/eastshire/alerts.json")
local_w=$(wc -l <"$T/demo/westshire/alerts.json")
expect_grep "^   eastshire +$local_e alerts$" "$T/out" "every Eastshire alert is stored ($local_e)"
expect_grep "^   westshire +$local_w alerts$" "$T/out" "every Westshire alert is stored ($local_w)"
ids=$(perl -MJSON::PP -ne 'print decode_json($_)->{alert}{event}{id}, "\n"' "$T/demo/stored.json" | sort | uniq -d | wc -l)
[ "$ids" -eq 0 ] && ok "no alert is stored twice" || bad "$ids alert ids stored twice"
[ "$(grep -c '"ward.regional"' "$T/demo/eastshire/alerts.json")" -eq 1 ] &&
    ok "one ward.regional alert" || bad "ward.regional count"
grep -q '"ward.regional"' "$T/demo/westshire/alerts.json" &&
    bad "Westshire alerted ward.regional on lines from before the feed" || ok "Westshire: none"
# the demo stops what it started (its agents daemonized without --foreground, and lived on)
left=$(pgrep -f -- "-c $T/demo/" | wc -l)
[ "$left" -eq 0 ] && ok "nothing the demo started is left running" || {
    bad "$left processes of the demo left running"
    pkill -9 -f -- "-c $T/demo/"
}
finish

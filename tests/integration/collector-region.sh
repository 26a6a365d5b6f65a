#!/bin/bash
# Regional correlation: an address that alerts at two organisations becomes a regional
# indicator, in `feed --format list|nft` and in a FEED frame pushed to an agent that is
# connected and asked for the feed; an allow-listed address (IPv4 or IPv6 network, exact
# value) never does; an address only one organisation saw does not.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/collector_lib.bash"

CFG="$T/c.yml"
write_coll_config "$CFG" \
    "region:" \
    "  min_orgs: 2" \
    "  window: 1h" \
    "  ttl: 8s" \
    "  interval: 100ms" \
    "  indicator_fields: [src_ip]" \
    "  allow: [\"192.0.2.0/24\", \"2001:db8::/32\", \"gateway.example\"]"
for k in a1 b1 c1; do "$WCL" --keygen "$T/$k.key" "$T/$k.pub" || bad "keygen $k"; done
"$WC" -c "$CFG" enroll --org council-a --agent a1 --pubkey "$T/a1.pub" >/dev/null || bad "enroll a1"
"$WC" -c "$CFG" enroll --org council-b --agent b1 --pubkey "$T/b1.pub" >/dev/null || bad "enroll b1"
"$WC" -c "$CFG" enroll --org council-c --agent c1 --pubkey "$T/c1.pub" >/dev/null || bad "enroll c1"
start_collector "$CFG" || finish

# c1 is connected, has no feed yet, and waits for one
client "$T/c1.key" --feed-pub "$T/cs/feed.pub" --timeout 10000 hello feed-get 0 wait-feed >"$T/pushed" 2>&1 &
waiter=$!
sleep 0.3

: >"$T/a.json"
: >"$T/b.json"
for ip in 203.0.113.7 192.0.2.5 2001:db8::5 gateway.example 2001:db9::1; do
    gen_alerts "$T/x.json" 2 "$ip" r-ssh high
    cat "$T/x.json" >>"$T/a.json"
    gen_alerts "$T/x.json" 1 "$ip" r-web medium
    cat "$T/x.json" >>"$T/b.json"
done
gen_alerts "$T/x.json" 3 198.51.100.9 r-ssh high # council-a only
cat "$T/x.json" >>"$T/a.json"
client "$T/a1.key" hello batch 1 "$T/a.json" >"$T/sa" 2>&1
expect_grep '^ACK epoch=1 acked=13$' "$T/sa" "council-a's alerts are stored"
client "$T/b1.key" hello batch 1 "$T/b.json" >"$T/sb" 2>&1
expect_grep '^ACK epoch=1 acked=5$' "$T/sb" "council-b's alerts are stored"

wait "$waiter"
expect_grep '^FEED version=[1-9][0-9]* n=2$' "$T/pushed" "a FEED with two indicators is pushed to the waiting agent"
expect_grep '^ENTRY 203\.0\.113\.7 src_ip 2 .*r-ssh' "$T/pushed" "the address both councils saw is in it, with its organisations and rules"
expect_grep '^ENTRY 2001:db9::1 src_ip 2 ' "$T/pushed" "an IPv6 address both saw is in it"
grep -Eq '192\.0\.2\.5|2001:db8::5|gateway\.example|198\.51\.100\.9' "$T/pushed" && bad "an allow-listed or single-council address was pushed" || ok "allow-listed and single-council addresses are not pushed"

"$WC" -c "$CFG" feed --format list >"$T/list" 2>&1
[ "$(sort "$T/list" | tr '\n' ' ')" = "2001:db9::1 203.0.113.7 " ] && ok "feed --format list has exactly the two regional addresses" || { bad "feed list"; cat "$T/list"; }
"$WC" -c "$CFG" feed --format nft --table fw --set regional >"$T/nft" 2>&1
expect_grep '203\.0\.113\.7' "$T/nft" "the nftables export has the IPv4 address"
expect_grep '2001:db9::1' "$T/nft" "the nftables export has the IPv6 address"
expect_grep 'table inet fw' "$T/nft" "the nftables export names the table"
grep -q '192\.0\.2\.5' "$T/nft" && bad "an allow-listed address in the nft export" || ok "no allow-listed address in the nft export"
expect_stat daemon.region.sightings_allow_listed 9 "allow-listed sightings are counted, not stored"

# an agent that connects later gets the current feed at once; one that has it, nothing
client "$T/c1.key" --feed-pub "$T/cs/feed.pub" hello feed-get 0 wait-feed >"$T/late" 2>&1
expect_grep '^FEED version=[1-9][0-9]* n=2$' "$T/late" "FEED_GET 0 is answered with the feed"
v=$(sed -n 's/^FEED version=\([0-9]*\).*/\1/p' "$T/late")
client "$T/c1.key" --feed-pub "$T/cs/feed.pub" --timeout 700 hello feed-get "$v" wait-feed >"$T/current" 2>&1
expect_grep '^TIMEOUT$' "$T/current" "an agent with the current version gets no FEED"

# ttl: an entry expires 8 s after its last sighting, and leaves the exports
i=0
while [ -s "$T/list" ] && [ $i -lt 150 ]; do
    sleep 0.1
    "$WC" -c "$CFG" feed --format list >"$T/list" 2>&1
    i=$((i + 1))
done
[ ! -s "$T/list" ] && ok "the indicators expire after region.ttl" || { bad "the indicators did not expire"; cat "$T/list"; }

stop_collector
no_sanitizer_report "$T/coll.log" ward-collector
finish

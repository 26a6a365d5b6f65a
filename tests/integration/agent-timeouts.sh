#!/bin/bash
# multiline_timeout and partial_timeout count from the last growth, also after a read of
# many lines (which takes longer than a millisecond): the last event of a large read is
# still open for its continuation, and a half-written line is still held.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

L="$T/logs/app.log"
N=5000

# --- multiline: the last event of a large read takes a continuation that comes later
write_config "$T/m.yml" "start_at: beginning" "multiline_start: '^Dec'" "multiline_timeout: 3s"
gen "$L" 1 $N
start_agent "$T/m.yml"
wait_for_count "$T/alerts.json" $((N - 1)) 20 || bad "multiline: the first events did not arrive"
printf '    at continuation of the last event\n' >>"$L"
wait_for_count "$T/alerts.json" $N 10 || bad "multiline: the last event did not arrive"
stop_agent
check_exactly "$T/alerts.json" 1 $N "multiline after a large read: every event once"
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{ward}{extracted}{seq} == '$N';
    my $n = () = $o->{event}{original} =~ /\n/g; print "lines=" . ($n + 1) . "\n"' "$T/alerts.json" >"$T/ml"
expect_grep '^lines=2$' "$T/ml" "the last event of a large read keeps its continuation"

# --- partial_timeout: a half-written line after a large read is held, not emitted at once
rm -rf "$T/state" "$T/logs"
: >"$T/alerts.json"
write_config "$T/p.yml" "start_at: beginning" "partial_timeout: 5s"
gen "$L" 1 $N
printf 'Dec  1 10:00:00 host gen[1]: SEQ %d first-half' $((N + 1)) >>"$L"
start_agent "$T/p.yml"
wait_for_count "$T/alerts.json" $N 20 || bad "partial: the first lines did not arrive"
sleep 0.5
printf ' second-half\n' >>"$L"
wait_for_count "$T/alerts.json" $((N + 1)) 10 || bad "partial: the completed line did not arrive"
stop_agent
check_exactly "$T/alerts.json" 1 $((N + 1)) "partial line after a large read: every line once"
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{ward}{extracted}{seq} == '$((N + 1))';
    print "$o->{event}{original}\n"' "$T/alerts.json" >"$T/pt"
expect_grep 'first-half second-half$' "$T/pt" "a half-written line is held until it is complete"
finish

#!/bin/bash
# kill -9 at random moments, over many rounds, while lines are written and the file is
# rotated: no alert is lost; a line read again gives the alert the same id.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

write_config "$T/a.yml" "start_at: beginning"
L="$T/logs/app.log"
N=30000
# the writer: N lines at a steady pace, rotating the file twice on the way
perl -e 'use Time::HiRes qw(usleep); my ($f, $n) = @ARGV; open(my $o, ">>", $f) or die;
         select((select($o), $| = 1)[0]);
         for my $i (1 .. $n) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n";
             if ($i % 10000 == 0) { rename($f, "$f.$i") or die; close $o;
                                    open($o, ">>", $f) or die; select((select($o), $| = 1)[0]); }
             usleep(2000) if $i % 10 == 0; }' "$L" "$N" &
WRITER=$!
RANDOM=42
rounds=0
while kill -0 "$WRITER" 2>/dev/null && [ $rounds -lt 40 ]; do
    start_agent "$T/a.yml"
    sleep "0.$((RANDOM % 4))$((RANDOM % 10))"
    kill9_agent
    rounds=$((rounds + 1))
done
wait "$WRITER"
[ $rounds -ge 10 ] && ok "$rounds kill -9 rounds while writing" || bad "only $rounds rounds"
# the rotated files are not matched by the pattern: the agent finds them by inode, next
# to their old name, and finishes them
start_agent "$T/a.yml"
wait_for_count "$T/alerts.json" "$N" 30 || true
stop_agent
check_none_lost "$T/alerts.json" 1 "$N" "after $rounds crashes no line is lost"
dups=$(seqs "$T/alerts.json" | sort -n | uniq -d | wc -l)
echo "lines read twice: $dups (only those after the last bookmark of each crash)"
# a duplicate can only come from the lines after the last bookmark: at most what one
# bookmark interval (50 ms) plus one commit of reading covers, per crash
[ "$dups" -lt $((rounds * 5000)) ] && ok "duplicates bounded ($dups)" || bad "too many duplicates: $dups"
grep -q 'rotated from .* while stopped; finishing it\|rotated or deleted' "$T/agent.log" && ok "rotations were noticed" || bad "no rotation noticed"
finish

#!/bin/bash
# A running agent through rename rotation under load, copytruncate, truncation, a file
# deleted while it is written, and a new file appearing: every line exactly once.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

write_config "$T/a.yml" "start_at: beginning"
L="$T/logs/app.log"
gen "$L" 1 1000
start_agent "$T/a.yml"
wait_for_count "$T/alerts.json" 1000 || bad "the first lines did not arrive"

# rename rotation under load: a writer keeps appending to the old file after the rename
# (as a daemon does until it reopens), then moves on to the new file
perl -e 'my ($f, $n) = @ARGV; open(my $o, ">>", $f) or die; select((select($o), $| = 1)[0]);
         for my $i (1001 .. 6000) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n";
             if ($i == 3000) { rename($f, "$f.1") or die; }
             if ($i == 4000) { close $o; open($o, ">>", $f) or die; select((select($o), $| = 1)[0]); } }
         close $o' "$L"
wait_for_count "$T/alerts.json" 6000 || bad "rotation: not every line arrived"
check_exactly "$T/alerts.json" 1 6000 "rename rotation under load: every line once"

# copytruncate: copy, then truncate in place; the writer goes on in the same file
cp "$L" "$L.2"
: >"$L"
gen "$L" 6001 6100
wait_for_count "$T/alerts.json" 6100 || bad "copytruncate: lines missing"
check_exactly "$T/alerts.json" 1 6100 "copytruncate: every line once"

# truncation followed, before the agent looks, by more bytes than it had read: the first
# bytes changed, so the file is read from the start
kill -STOP "$AGENT_PID"
: >"$L"
gen "$L" 6101 6300
kill -CONT "$AGENT_PID"
wait_for_count "$T/alerts.json" 6300 || bad "truncate and refill: lines missing"
check_exactly "$T/alerts.json" 1 6300 "truncation refilled past the old offset: every line once"

# a file deleted while a writer still has it open is drained
perl -e 'my ($f) = @ARGV; open(my $o, ">>", $f) or die; select((select($o), $| = 1)[0]);
         for my $i (6301 .. 6500) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n";
             # deleted after its first lines, while still being written (a file that
             # lives a few microseconds cannot be opened by anyone: give it a moment)
             if ($i == 6400) { sleep 1; unlink $f; } }
         sleep 1; close $o' "$T/logs/doomed.log"
wait_for_count "$T/alerts.json" 6500 || bad "deleted file: lines missing"
check_exactly "$T/alerts.json" 1 6500 "a deleted file is drained"

# a new file matching the pattern is picked up and read from its start
gen "$T/logs/later.log" 6501 6600
wait_for_count "$T/alerts.json" 6600 || bad "new file: lines missing"
check_exactly "$T/alerts.json" 1 6600 "a new file is picked up"

# nothing is held open longer than rotate_wait after its end
sleep 1.5
n=$(ls -l /proc/"$AGENT_PID"/fd 2>/dev/null | grep -c "$T/logs/")
[ "$n" -eq 2 ] && ok "rotated and deleted files were released ($n open: app.log, later.log)" || { bad "$n log files open"; ls -l /proc/"$AGENT_PID"/fd; }

stop_agent && ok "SIGTERM: exits 0" || bad "SIGTERM exit status"
check_exactly "$T/alerts.json" 1 6600 "nothing more after the stop"

# a rotated file whose last line has no newline: after rotate_wait that line is read as
# it is (nothing can complete it) and the file is released, also when it was deleted;
# likewise a deleted file that ends inside an overlong line
rm -rf "$T/state" "$T/logs"
: >"$T/alerts.json"
write_config "$T/b.yml" "start_at: beginning"
gen "$L" 1 10
printf 'Dec  1 10:00:00 host gen[1]: SEQ 11 no newline' >>"$L"
gen "$T/logs/long.log" 21 30
perl -e 'print "Dec  1 10:00:00 host gen[1]: SEQ 31 ", "y" x 70000' >>"$T/logs/long.log"
start_agent "$T/b.yml"
wait_for_count "$T/alerts.json" 21 || bad "rotated partial line: the first lines did not arrive"
mv "$L" "$L.1"
gen "$L" 12 20
rm "$L.1" "$T/logs/long.log"
wait_for_count "$T/alerts.json" 31 10 || bad "the last line of a rotated file did not arrive"
sleep 1.5
check_exactly "$T/alerts.json" 1 31 "the last line of a rotated file, without its newline, is read once"
n=$(ls -l /proc/"$AGENT_PID"/fd 2>/dev/null | grep -c '(deleted)')
[ "$n" -eq 0 ] && ok "rotated files that end without a newline are released" || { bad "$n deleted files still open"; ls -l /proc/"$AGENT_PID"/fd; }
stop_agent
finish

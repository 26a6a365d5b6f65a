#!/bin/bash
# SIGHUP: a broken rule file is reported and the running rules keep working; a fixed one is
# taken; threshold state survives the reload; SIGUSR1 writes the stats; the alerts file is
# reopened after it was rotated away; an agent without agent.name keeps the host name across
# a reload; a reload restarts a source whose keys changed, and only then.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

mkdir -p "$T/rules"
cp tests/data/rules/agent/seq.yml "$T/rules/"
write_config "$T/a.yml" "start_at: beginning"
sed -i "s|rules: {paths: \[tests/data/rules/agent\]}|rules: {paths: [$T/rules]}|" "$T/a.yml"
L="$T/logs/app.log"
burst() { printf 'Dec  1 10:00:00 host gen[1]: BURST %s\n' "$@" >>"$L"; }
count_rule() { local n; n=$(grep -c "\"id\":\"$1\"" "$T/alerts.json" 2>/dev/null); echo "${n:-0}"; }
wait_rule() {
    local i=0
    while [ $i -lt 200 ]; do [ "$(count_rule "$1")" -ge "$2" ] && return 0; sleep 0.05; i=$((i + 1)); done
    return 1
}

start_agent "$T/a.yml"
gen "$L" 1 5
wait_for_count "$T/alerts.json" 5 || bad "first lines"

# two of three burst matches before the reload, the third after: the threshold fires
burst alice alice bob
sleep 0.5
[ "$(count_rule test-burst)" -eq 0 ] && ok "threshold: not yet (2 of 3)" || bad "threshold fired early"

# a broken rule file: reported, the old rules keep running
printf 'title: broken\nid: broken-1\nlevel: low\ndetection: {sel: {message|frob: x}, condition: sel}\n' >"$T/rules/broken.yml"
kill -HUP "$AGENT_PID"
i=0
until grep -q 'running rules are kept' "$T/agent.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
expect_grep 'broken\.yml:4:[0-9]+: rule broken-1: .*frob' "$T/agent.log" "the broken rule is reported with its place"
expect_grep 'the new rules have [0-9]+ errors: the running rules are kept' "$T/agent.log" "the old rules are kept"
gen "$L" 6 10
wait_for_count "$T/alerts.json" 10 || bad "lines after a failed reload"
check_exactly "$T/alerts.json" 1 10 "the running rules still match after a failed reload"
burst alice
wait_rule test-burst 1 && ok "threshold state survived the failed reload: fired on the third" || bad "no threshold alert"
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{rule}{id} eq "test-burst";
    print "count=$o->{ward}{threshold}{count} who=$o->{ward}{threshold}{group}{who}\n"' "$T/alerts.json" >"$T/thr"
expect_grep '^count=3 who=alice$' "$T/thr" "the threshold alert says count and group"

# fixed: the new rule is taken, the threshold state survives a successful reload too
rm "$T/rules/broken.yml"
printf 'title: new one\nid: test-new\nlevel: high\ndetection: {k: [NEWRULE], condition: k}\n' >"$T/rules/new.yml"
burst bob
kill -HUP "$AGENT_PID"
i=0
until grep -q 'reloaded: 3 rules' "$T/agent.log" || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
expect_grep 'reloaded: 3 rules; threshold state of 0 groups dropped' "$T/agent.log" "the fixed rules are loaded"
printf 'Dec  1 10:00:00 host gen[1]: NEWRULE here\n' >>"$L"
burst bob
wait_rule test-new 1 && ok "the new rule matches" || bad "the new rule does not match"
wait_rule test-burst 2 && ok "bob's third burst across a successful reload fired" || bad "threshold lost in the reload"

# the alerts file rotated away: SIGHUP reopens it
mv "$T/alerts.json" "$T/alerts.json.1"
kill -HUP "$AGENT_PID"
sleep 0.3
gen "$L" 11 12
i=0
until [ -s "$T/alerts.json" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
check_exactly "$T/alerts.json" 11 12 "after SIGHUP, alerts go to the new file"

# SIGUSR1 writes the stats file
kill -USR1 "$AGENT_PID"
i=0
until [ -s "$T/state/stats.json" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; my $s = decode_json(<$f>);
    my ($src) = @{$s->{sources}};
    printf "reloads=%d failures=%d records=%d threshold=%d seq_matches=%d\n", $s->{reloads},
        $s->{reload_failures}, $src->{records}, $s->{threshold_alerts}, $s->{rules}{"test-seq"}{matches}' \
    "$T/state/stats.json" >"$T/st"
expect_grep '^reloads=3 failures=1 records=(1[89]|2[0-9]) threshold=2 seq_matches=2$' "$T/st" "stats file on SIGUSR1 holds the counters"
stop_agent && ok "SIGTERM: exits 0" || bad "SIGTERM exit status"

# without agent.name, the agent is named after the host, before and after a reload
write_config "$T/b.yml" "start_at: beginning"
sed -i -e "s|name: test-agent, state_dir: $T/state|state_dir: $T/bstate|" -e "s|$T/alerts.json|$T/b.json|" \
    -e "s|$T/logs/\*.log|$T/logs2/*.log|" "$T/b.yml"
mkdir -p "$T/logs2"
H=$(hostname)
start_agent "$T/b.yml"
gen "$T/logs2/app.log" 1 2
wait_for_count "$T/b.json" 2 || bad "unnamed agent: first lines"
before=$(grep -c 'info: reloaded' "$T/agent.log")
kill -HUP "$AGENT_PID"
i=0
until [ "$(grep -c 'info: reloaded' "$T/agent.log")" -gt "$before" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
gen "$T/logs2/app.log" 3 4
wait_for_count "$T/b.json" 4 || bad "unnamed agent: lines after the reload"
check_exactly "$T/b.json" 1 4 "unnamed agent: every line before and after the reload arrives"
perl -MJSON::PP -ne 'my $o = decode_json($_); next unless defined $o->{ward}{extracted}{seq};
    print "seq=$o->{ward}{extracted}{seq} id=" . ($o->{agent}{id} // "none") . " name=" . ($o->{agent}{name} // "none") . "\n"' \
    "$T/b.json" >"$T/names"
[ "$(grep -c "^seq=[0-9]* id=$H name=$H\$" "$T/names")" -eq 4 ] && ok "unnamed agent: alerts carry the host name as agent.id and agent.name, after a reload too" \
    || { bad "unnamed agent: agent.id/agent.name in alerts"; sed 's/^/    /' "$T/names"; }
rm -f "$T/bstate/stats.json"
kill -USR1 "$AGENT_PID"
i=0
until [ -s "$T/bstate/stats.json" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; my $s = decode_json(<$f>);
    print "agent=" . ($s->{agent} // "null") . "\n"' "$T/bstate/stats.json" >"$T/st2"
expect_grep "^agent=$H\$" "$T/st2" "unnamed agent: the stats name the host after a reload"

# a reload restarts a source when one of its keys changed, and only then (a restarted
# source starts its counters again)
records() {
    rm -f "$T/bstate/stats.json"
    kill -USR1 "$AGENT_PID"
    local i=0
    until [ -s "$T/bstate/stats.json" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
    perl -MJSON::PP -e 'local $/; open(my $f, "<", $ARGV[0]) or die; print decode_json(<$f>)->{sources}[0]{records}, "\n"' "$T/bstate/stats.json"
}
[ "$(records)" = 4 ] && ok "a reload with the same sources keeps them running" || bad "the unchanged source was restarted"
echo "    multiline_max_lines: 400" >>"$T/b.yml"
before=$(grep -c 'info: reloaded' "$T/agent.log")
kill -HUP "$AGENT_PID"
i=0
until [ "$(grep -c 'info: reloaded' "$T/agent.log")" -gt "$before" ] || [ $i -ge 100 ]; do sleep 0.05; i=$((i + 1)); done
[ "$(records)" = 0 ] && ok "a reload that changes a source key restarts the source" || bad "the changed source was not restarted"
gen "$T/logs2/app.log" 5 5
wait_for_count "$T/b.json" 5 || bad "lines after the restart"
check_exactly "$T/b.json" 1 5 "the restarted source goes on from its bookmark"
stop_agent && ok "unnamed agent: exits 0" || bad "unnamed agent: exit status"
finish

# Helpers for the agent's integration tests (sourced after lib.bash, not run).
# Lines are numbered ("SEQ n"); the rule test-seq turns each into one alert whose
# ward.extracted.seq is n, so a test knows exactly which lines arrived.
WA="$B/ward-agent"
AGENT_PID=
agent_cleanup() {
    if [ -n "$AGENT_PID" ]; then kill -9 "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap agent_cleanup EXIT

# write_config FILE [extra source lines...]: a config reading $T/logs/*.log into $T/alerts.json
write_config() {
    local f=$1
    shift
    mkdir -p "$T/state" "$T/logs"
    {
        echo "agent: {name: test-agent, state_dir: $T/state}"
        echo "rules: {paths: [tests/data/rules/agent]}"
        echo "outputs: {file: {path: $T/alerts.json, fsync_interval: 20ms}}"
        echo "stats: {interval: 0}"
        echo "bookmark_interval: 50ms"
        echo "sources:"
        echo "  - type: file"
        echo "    name: logs"
        echo "    paths: [\"$T/logs/*.log\"]"
        echo "    scan_interval: 100ms"
        echo "    rotate_wait: 500ms"
        for l in "$@"; do echo "    $l"; done
    } >"$f"
}

# gen FILE FROM TO: appends lines SEQ FROM..TO
gen() {
    perl -e 'my ($f, $a, $b) = @ARGV; open(my $o, ">>", $f) or die "$f: $!";
             for my $n ($a .. $b) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $n ", "x" x ($n % 50), "\n" }
             close $o' "$@"
}

start_agent() {
    "$WA" --foreground -c "$1" 2>>"$T/agent.log" &
    AGENT_PID=$!
}

stop_agent() {
    [ -n "$AGENT_PID" ] || return 0
    kill -TERM "$AGENT_PID"
    wait "$AGENT_PID"
    local rc=$?
    AGENT_PID=
    return $rc
}

kill9_agent() {
    [ -n "$AGENT_PID" ] || return 0
    kill -9 "$AGENT_PID"
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
}

# seqs FILE: the seq numbers of the alerts in FILE, one a line, in order
seqs() {
    [ -f "$1" ] || return 0
    perl -MJSON::PP -ne 'my $o = decode_json($_); my $s = $o->{ward}{extracted}{seq};
                         print "$s\n" if defined $s' "$1"
}

# distinct_count FILE: how many different seq numbers arrived
distinct_count() { seqs "$1" | sort -un | wc -l; }

# wait_for_count FILE N [SECONDS]: waits until N seq alerts arrived (cheaply: grep;
# check_exactly then checks which)
wait_for_count() {
    local f=$1 n=$2 t=${3:-20} i=0
    while [ "$i" -lt $((t * 20)) ]; do
        [ -f "$f" ] && [ "$(grep -c '"seq":' "$f")" -ge "$n" ] && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

# check_exactly FILE FROM TO DESCRIPTION: every seq FROM..TO arrived, and nothing else
check_exactly() {
    local f=$1 from=$2 to=$3 what=$4
    local got
    got=$(perl -MJSON::PP -e '
        my ($f, $a, $b) = @ARGV; my (%n, %ids, $bad);
        open(my $in, "<", $f) or die "$f: $!";
        while (<$in>) { my $o = decode_json($_); my $s = $o->{ward}{extracted}{seq};
            next unless defined $s; $n{$s}++;
            # a line read twice must give the same alert id both times
            my $id = $o->{event}{id}; $ids{$s} //= $id; $bad++ if $ids{$s} ne $id; }
        my @missing = grep { !$n{$_} } $a .. $b;
        my @extra = grep { $_ < $a || $_ > $b } keys %n;
        my $dups = grep { $n{$_} > 1 } keys %n;
        print "missing=" . scalar(@missing) . (@missing ? " (first $missing[0])" : "") .
              " extra=" . scalar(@extra) . " dups=$dups" . ($bad ? " other_ids=$bad" : "") . "\n";' "$f" "$from" "$to")
    if [ "$got" = "missing=0 extra=0 dups=0" ]; then ok "$what"; else bad "$what: $got"; fi
}

# check_all_once_or_more FILE FROM TO DESCRIPTION: no line lost; duplicates allowed (same id)
check_none_lost() {
    local f=$1 from=$2 to=$3 what=$4
    local got
    got=$(perl -MJSON::PP -e '
        my ($f, $a, $b) = @ARGV; my (%n, %ids, $bad);
        open(my $in, "<", $f) or die "$f: $!";
        while (<$in>) { my $o = decode_json($_); my $s = $o->{ward}{extracted}{seq};
            next unless defined $s; $n{$s}++;
            my $id = $o->{event}{id}; $ids{$s} //= $id; $bad++ if $ids{$s} ne $id; }
        my @missing = grep { !$n{$_} } $a .. $b;
        my $dups = grep { $n{$_} > 1 } keys %n;
        print "missing=" . scalar(@missing) . (@missing ? " (first $missing[0])" : "") .
              ($bad ? " other_ids=$bad" : "") . " dups=$dups\n";' "$f" "$from" "$to")
    case $got in
    "missing=0 dups="*) ok "$what ($got)" ;;
    *) bad "$what: $got" ;;
    esac
}

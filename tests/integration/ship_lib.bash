# Helpers for the tests of agents shipping to real collectors (sourced after lib.bash,
# agent_lib.bash and collector_lib.bash, not run). Agents run in the background; their
# pids are in PIDS (and AGENT_PID, COLL_PIDS), killed at the end, PostgreSQL stopped.
PIDS=
ship_cleanup() {
    for p in $PIDS $AGENT_PID; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    coll_cleanup
}
trap ship_cleanup EXIT

# free_port: a free loopback port, so that a collector comes back where its agents expect it
free_port() {
    perl -MIO::Socket::INET -e 'my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0") or die; print $s->sockport'
}

# run_bg VAR CONFIG LOG: an agent in the background (LOG emptied first), its pid in VAR
run_bg() {
    : >"$3"
    "$WA" --foreground -c "$2" 2>>"$3" &
    printf -v "$1" '%s' "$!"
    PIDS="$PIDS $!"
}
# stop_bg PID NAME: SIGTERM, and it must exit 0
stop_bg() {
    kill -TERM "$1"
    wait "$1" || bad "$2's exit status"
    PIDS=${PIDS/ $1/}
}
# kill9_bg PID: kill -9, forgotten
kill9_bg() {
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
    PIDS=${PIDS/ $1/}
}
# wait_log PATTERN FILE [TENTHS]: until PATTERN (grep -E) is in FILE, 5 s at most
wait_log() {
    local i=0
    until grep -qE -- "$1" "$2" 2>/dev/null || [ $i -ge "${3:-50}" ]; do sleep 0.1; i=$((i + 1)); done
}

# ship_config NAME FILE [extra top-level YAML lines]: an agent NAME with its own state and
# logs ($T/NAME), the test rules, shipping to the collector on 127.0.0.1:$P whose CA and
# feed key are in ${CS:-$T/cs}
ship_config() {
    local n=$1 f=$2 cs=${CS:-$T/cs}
    shift 2
    mkdir -p "$T/$n/logs"
    {
        echo "agent: {name: $n, state_dir: $T/$n/state}"
        echo "rules: {paths: [tests/data/rules/agent, tests/data/rules/ship]}"
        echo "outputs: {file: {path: $T/$n/alerts.json, fsync_interval: 20ms}}"
        echo "stats: {interval: 0}"
        echo "bookmark_interval: 50ms"
        echo "sources:"
        echo "  - {type: file, name: logs, paths: [\"$T/$n/logs/*.log\"], start_at: beginning, scan_interval: 100ms}"
        echo "collector:"
        echo "  address: 127.0.0.1:$P"
        echo "  ca: $cs/tls/ca.pem"
        echo "  server_name: localhost"
        echo "  feed_key: $cs/feed.pub"
        echo "  backoff_min: 50ms"
        echo "  backoff_max: 500ms"
        echo "  batch_max_records: 200"
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

# stored AGENT: the alerts of AGENT stored (query through the collector of $CFG) as
# "seq event.id rule" lines
stored() {
    "$WC" -c "$CFG" query --json 2>/dev/null | AG=$1 perl -MJSON::PP -ne '
        my $o = decode_json($_); next unless $o->{agent} eq $ENV{AG};
        my $a = $o->{alert}; my $s = $a->{ward}{extracted}{seq} // "-";
        print "$s $a->{event}{id} $a->{rule}{id}\n"'
}

# wait_stored AGENT N [SECONDS]: until N alerts of AGENT are stored
wait_stored() {
    local i=0 t=${3:-30}
    while [ $i -lt $((t * 5)) ]; do
        [ "$(stored "$1" | wc -l)" -ge "$2" ] && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}

# wait_total N [SECONDS]: until the store (of $CFG) holds N alerts in all (cheaper than
# wait_stored: a count, not the alerts)
wait_total() {
    local i=0 t=${2:-30}
    while [ $i -lt $((t * 10)) ]; do
        [ "$(STATS_CFG=$CFG coll_stat store.alerts)" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# check_stored AGENT FROM TO WHAT: the seq alerts FROM..TO stored, each exactly once
check_stored() {
    local got
    got=$(stored "$1" | perl -e '
        my ($a, $b) = @ARGV; my (%n, %id);
        while (<STDIN>) { my ($s, $id, $r) = split; $id{$id}++; $n{$s}++ if $r eq "test-seq" }
        my @missing = grep { !$n{$_} } $a .. $b;
        my $dups = grep { $_ > 1 } values %id;
        print "missing=" . scalar(@missing) . (@missing ? " (first $missing[0])" : "") .
              " duplicates=$dups\n"' "$2" "$3")
    [ "$got" = "missing=0 duplicates=0" ] && ok "$4" || bad "$4: $got"
}

# slow_gen FILE FROM TO [PAUSE_US]: appends SEQ FROM..TO, a pause (1000 us) every 20
# lines (in the background: a writer that keeps producing while things break)
slow_gen() {
    perl -e 'use Time::HiRes qw(usleep); my ($f, $a, $b, $us) = @ARGV; open(my $o, ">>", $f) or die;
             select((select($o), $| = 1)[0]);
             for my $i ($a .. $b) { print $o "Dec  1 10:00:00 host gen[1]: SEQ $i\n";
                 usleep($us) if $i % 20 == 0; }' "$1" "$2" "$3" "${4:-1000}"
}

# ssh_fail FILE USER ADDRESS: a failed ssh login line (rule test-ssh-fail)
ssh_fail() { echo "Dec  1 10:00:00 host sshd[7]: Failed password for $2 from $3 port 4242 ssh2" >>"$1"; }

# web_line FILE ADDRESS PATH: an access-log line from ADDRESS (no rule matches it)
web_line() { echo "$2 - - [01/Dec/2026:10:00:00 +0000] \"GET /$3 HTTP/1.1\" 200 1 \"-\" \"x\"" >>"$1"; }

# regional ALERTS_FILE: its ward.regional alerts, waited for (5 s), one a line as
# "indicator field orgs rules level PATH id|noid" (PATH: of the line's GET, "-" for none)
regional() {
    wait_log '"ward.regional"' "$1"
    sleep 0.3
    perl -MJSON::PP -ne 'my $o = decode_json($_); next unless $o->{rule}{id} eq "ward.regional";
        my $x = $o->{ward}{extracted};
        print "$x->{indicator} $x->{indicator_field} $x->{orgs} $x->{rules} $o->{ward}{level} ",
              ($o->{event}{original} =~ m{GET /(\w)} ? $1 : "-"), " ", ($x->{regional_id} ? "id" : "noid"), "\n"' "$1"
}

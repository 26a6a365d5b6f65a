# Helpers for the collector's integration tests (sourced after lib.bash, not run).
WC="$B/ward-collector"
WCL="$B/wire-client"
COLL_PID=
COLL_PIDS= # every collector started, for the clean-up
PG=        # a PostgreSQL server's conninfo, stopped at the end
PORT=
coll_cleanup() {
    for p in $COLL_PIDS; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    [ -n "$PG" ] && sh tests/lib/pg.sh stop "$PG" >/dev/null 2>&1
    rm -rf "$T"
}
trap coll_cleanup EXIT

# sanitizer reports in a program's stderr (the ASan run of the tests)
no_sanitizer_report() {
    if grep -q 'Sanitizer' "$1"; then bad "$2: sanitizer report"; grep -A5 Sanitizer "$1" | head -20; fi
}

# write_coll_config FILE [more YAML lines]: a collector on a free loopback port, its state
# in $T/cs
write_coll_config() {
    local f=$1
    shift
    {
        echo "collector: {state_dir: $T/cs, listen: \"127.0.0.1:0\"}"
        echo "stats: {interval: 0}"
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

# start_collector CFG [LOG]: runs it in the background (stderr in LOG, default
# $T/coll.log), sets PORT and COLL_PID
start_collector() {
    local log=${2:-$T/coll.log}
    ${COLL_WRAP:-} "$WC" -c "$1" 2>>"$log" &
    COLL_PID=$!
    COLL_PIDS="$COLL_PIDS $COLL_PID"
    local i=0
    PORT=
    while [ $i -lt 100 ]; do
        PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" 2>/dev/null | tail -1)
        [ -n "$PORT" ] && return 0
        kill -0 "$COLL_PID" 2>/dev/null || break
        sleep 0.05
        i=$((i + 1))
    done
    bad "the collector did not start"
    cat "$log"
    return 1
}

# stop_collector [PID]: SIGTERM, and it must exit 0 (default: the last one started)
stop_collector() {
    local pid=${1:-$COLL_PID}
    kill -TERM "$pid"
    wait "$pid"
    local rc=$?
    COLL_PIDS=$(echo " $COLL_PIDS " | sed "s/ $pid / /")
    [ "$rc" -eq 0 ] && ok "the collector stops on SIGTERM with status 0" || bad "collector exit status $rc"
}

# client KEY [--opt V]... STEP...: a wire-client session with the agent key KEY, to the
# collector on $PORT whose state is in ${CS:-$T/cs}
client() {
    local key=$1
    shift
    "$WCL" --connect "127.0.0.1:$PORT" --ca "${CS:-$T/cs}/tls/ca.pem" --key "$key" "$@"
}

# gen_alerts FILE N SRC_IP [RULE [LEVEL]]: N alerts of now, one JSON a line
gen_alerts() {
    perl -e 'my ($f, $n, $ip, $rule, $level) = @ARGV;
             my @t = gmtime(time); my $ts = sprintf("%04d-%02d-%02dT%02d:%02d:%02d.000Z",
                 $t[5] + 1900, $t[4] + 1, $t[3], $t[2], $t[1], $t[0]);
             open(my $o, ">", $f) or die "$f: $!";
             for my $i (1 .. $n) {
                 printf $o "{\"\@timestamp\":\"%s\",\"event\":{\"kind\":\"alert\",\"id\":\"%032x\"},".
                    "\"message\":\"Failed password from %s\",\"rule\":{\"id\":\"%s\",\"name\":\"t\"},".
                    "\"source\":{\"ip\":\"%s\"},\"ward\":{\"level\":\"%s\",\"extracted\":{\"src_ip\":\"%s\",\"n\":\"%d\"}}}\n",
                    $ts, int(rand(1 << 30)) * 65536 + $i, $ip, $rule, $ip, $level, $ip, $i;
             }
             close $o' "$1" "$2" "$3" "${4:-test-rule}" "${5:-high}"
}

# stat PATH: a number from `ward-collector stats` (PATH like daemon.rejected.bomb)
coll_stat() {
    "$WC" -c "${STATS_CFG:-$CFG}" stats 2>/dev/null | perl -MJSON::PP -e '
        local $/; my $j = decode_json(<STDIN>); my $v = $j;
        for my $k (split /\./, $ARGV[0]) { $v = ref $v eq "HASH" ? $v->{$k} : undef }
        print defined $v ? $v : "none"' "$1"
}

# expect_stat PATH VALUE DESCRIPTION: waits up to 5 s for the stats file to say so
expect_stat() {
    local i=0 v
    while [ $i -lt 50 ]; do
        v=$(coll_stat "$1")
        [ "$v" = "$2" ] && { ok "$3"; return 0; }
        sleep 0.1
        i=$((i + 1))
    done
    bad "$3 ($1 is $v, not $2)"
}

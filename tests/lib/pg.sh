#!/bin/sh
# A throw-away PostgreSQL server for tests.
#   pg.sh start [WATCH_PID]  makes a temp dir, initdb's a cluster in it and starts
#                            postgres listening only on a Unix socket in that dir; prints
#                            one line: the libpq conninfo (host=DIR port=5432 user=ward
#                            dbname=postgres). With WATCH_PID, a watchdog stops the
#                            server when that process goes away (a test that crashed).
#   pg.sh stop CONNINFO|DIR  stops it (pg_ctl stop -m fast) and removes the dir.
#   pg.sh restart CONNINFO|DIR  restarts it (the clients' connections break).
# postgres refuses to run as root: as root, the cluster and the server belong to
# nobody (the dir is chowned to it). The server runs with fsync off: tests only.
# Exits non-zero with the server's log on stderr when it cannot start.
set -u
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
[ -x "$PGBIN/postgres" ] || PGBIN=$(dirname "$(command -v postgres 2>/dev/null || echo /x/x)")

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

dir_of() {
    case $1 in
    *host=*) printf '%s\n' "$1" | sed 's/.*host=\([^ ]*\).*/\1/' ;;
    *) printf '%s\n' "$1" ;;
    esac
}

case ${1:-} in
start)
    [ -x "$PGBIN/postgres" ] || { echo "pg.sh: postgres not found in $PGBIN" >&2; exit 1; }
    dir=$(mktemp -d "${TMPDIR:-/tmp}/ward-pg.XXXXXX") || exit 1
    chmod 0755 "$dir"
    [ "$(id -u)" = 0 ] && chown nobody "$dir"
    if ! as_owner "$PGBIN/initdb" -D "$dir/data" -U ward --auth=trust -E UTF8 \
        --no-sync >"$dir/initdb.log" 2>&1; then
        echo "pg.sh: initdb failed:" >&2
        cat "$dir/initdb.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses='' -c unix_socket_directories=$dir -p 5432 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
        start >"$dir/pg_ctl.log" 2>&1; then
        echo "pg.sh: postgres did not start:" >&2
        cat "$dir/pg_ctl.log" "$dir/server.log" >&2
        rm -rf "$dir"
        exit 1
    fi
    if [ -n "${2:-}" ]; then
        # The watchdog: detached, its output closed so that a caller reading ours
        # through a pipe is not kept waiting.
        (
            trap '' HUP
            while kill -0 "$2" 2>/dev/null && [ -d "$dir/data" ]; do sleep 1; done
            if [ -d "$dir/data" ]; then
                as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
                rm -rf "$dir"
            fi
        ) </dev/null >/dev/null 2>&1 &
    fi
    echo "host=$dir port=5432 user=ward dbname=postgres"
    ;;
stop)
    dir=$(dir_of "${2:?usage: pg.sh stop CONNINFO|DIR}")
    case $dir in
    */ward-pg.*) ;;
    *) echo "pg.sh: $dir is not a pg.sh dir" >&2; exit 1 ;;
    esac
    rc=0
    if [ -d "$dir/data" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || rc=1
    fi
    rm -rf "$dir"
    exit $rc
    ;;
restart)
    dir=$(dir_of "${2:?usage: pg.sh restart CONNINFO|DIR}")
    [ -d "$dir/data" ] || { echo "pg.sh: no server in $dir" >&2; exit 1; }
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -m fast -w -t 30 restart \
        >"$dir/pg_ctl.log" 2>&1 || { cat "$dir/pg_ctl.log" "$dir/server.log" >&2; exit 1; }
    ;;
*)
    echo "usage: pg.sh start [WATCH_PID] | pg.sh stop|restart CONNINFO|DIR" >&2
    exit 2
    ;;
esac

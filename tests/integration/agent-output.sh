#!/bin/bash
# The alerts file and the bookmarks: a FIFO (nothing to sync) works like a file; a failed
# fsync stops the agent without moving a bookmark, and the next start writes the alerts
# again, with the same ids; bookmarks that cannot be written are named and counted.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

# --- a FIFO as the alerts "file": fsync says EINVAL, which is not a failure
write_config "$T/a.yml" "start_at: beginning"
sed -i "s|path: $T/alerts.json|path: $T/alerts.fifo|" "$T/a.yml"
mkfifo "$T/alerts.fifo"
gen "$T/logs/app.log" 1 20
cat "$T/alerts.fifo" >"$T/alerts.json" &
reader=$!
"$WA" --once -c "$T/a.yml" 2>"$T/err" && ok "--once into a FIFO exits 0" || { bad "--once into a FIFO"; cat "$T/err"; }
wait "$reader" # it sees the end once the agent, the only writer, is gone
check_exactly "$T/alerts.json" 1 20 "every alert came through the FIFO"
expect_grep '^file	logs	' "$T/state/bookmarks" "the bookmark moved"

# --- fsync of the alerts file fails (a preloaded fsync; see lib/failsync.c)
rm -rf "$T/state" "$T/logs" "$T/alerts.json"
write_config "$T/b.yml" "start_at: beginning"
gen "$T/logs/app.log" 1 30
cc -shared -fPIC -O2 -o "$T/failsync.so" tests/integration/lib/failsync.c || bad "cannot build the fsync shim"
# the sanitizers' runtime must come first; with a preloaded library it does not
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
WARD_FAIL_FSYNC=alerts.json LD_PRELOAD="$T/failsync.so" "$WA" --once -c "$T/b.yml" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && ok "--once exits 1 when fsync fails" || bad "--once exit status $rc"
expect_grep "error: fsync of $T/alerts.json failed: Input/output error" "$T/err" "the failure is named"
[ ! -s "$T/state/bookmarks" ] && ok "no bookmark was written" || { bad "a bookmark was written"; cat "$T/state/bookmarks"; }
"$WA" --once -c "$T/b.yml" 2>"$T/err" && ok "the next run exits 0" || { bad "the next run"; cat "$T/err"; }
check_none_lost "$T/alerts.json" 1 30 "the next run wrote every alert"

# the running agent: it stops by itself, with status 1, and moves no bookmark
rm -rf "$T/state" "$T/alerts.json"
mkdir -p "$T/state"
WARD_FAIL_FSYNC=alerts.json LD_PRELOAD="$T/failsync.so" "$WA" --foreground -c "$T/b.yml" 2>"$T/err" &
pid=$!
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 "$pid" 2>/dev/null; then
    bad "the agent still runs 10 s after a failed fsync"
    kill -9 "$pid"
fi
wait "$pid"
rc=$?
[ "$rc" -eq 1 ] && ok "the running agent stops with status 1" || bad "exit status $rc"
grep -q "^file	" "$T/state/bookmarks" 2>/dev/null && bad "a bookmark was written" || ok "no bookmark moved"

# --- the bookmarks cannot be written: named, counted, exit 1, and the old ones stay
rm -rf "$T/state" "$T/alerts.json"
mkdir -p "$T/state/bookmarks.tmp" # open(O_CREAT) of a directory: EISDIR
"$WA" --once -c "$T/b.yml" 2>"$T/err"
rc=$?
[ "$rc" -eq 1 ] && ok "--once exits 1 when the bookmarks cannot be written" || bad "exit status $rc"
expect_grep "error: bookmarks: $T/state/bookmarks.tmp: cannot open: Is a directory" "$T/err" "the failure names the file"
expect_grep '"bookmark_errors":1' "$T/state/stats.json" "it is counted"
finish

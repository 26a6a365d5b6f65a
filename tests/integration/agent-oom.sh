#!/bin/bash
# A record the pipeline cannot take for lack of memory is not lost: the file source stops
# at that line and reads it again later (as the journal source does), in order, once.
# Memory runs out through a preloaded realloc that fails for large blocks while a flag
# file exists (an alert of a 100 KB line needs one; the agent's buffers for short lines
# do not). Not under ASan, whose allocator cannot be wrapped this way.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

if [ -n "${WARD_SANITIZE:-}" ]; then
    ok "skipped under ASan (a preloaded realloc would bypass its allocator)"
    finish
fi

cat >"$T/oom.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
/* realloc fails for blocks of 256 KiB or more while $WARD_TEST_OOM names a file */
void *realloc(void *p, size_t n) {
    static void *(*next)(void *, size_t);
    if (!next)
        next = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    const char *flag = getenv("WARD_TEST_OOM");
    if (n >= (256u << 10) && flag && access(flag, F_OK) == 0) {
        errno = ENOMEM;
        return NULL;
    }
    return next(p, n);
}
C
cc -shared -fPIC -o "$T/oom.so" "$T/oom.c" -ldl || { bad "the realloc shim does not build"; finish; }

L="$T/logs/app.log"
long_line() { perl -e 'print "Dec  1 10:00:00 host gen[1]: SEQ $ARGV[0] ", "z" x 100000, "\n"' "$1" >>"$L"; }

for mode in plain multiline; do
    rm -rf "$T/state" "$T/logs" "$T/oom"
    : >"$T/alerts.json"
    : >"$T/agent.log"
    extra=("max_line: 200k")
    [ $mode = multiline ] && extra+=("multiline_start: '^Dec'" "multiline_timeout: 200ms")
    write_config "$T/a.yml" "start_at: beginning" "${extra[@]}"
    gen "$L" 1 10
    WARD_TEST_OOM="$T/oom" LD_PRELOAD="$T/oom.so" start_agent "$T/a.yml"
    wait_for_count "$T/alerts.json" 10 10 || bad "$mode: the first lines did not arrive"
    touch "$T/oom"
    long_line 11
    gen "$L" 12 13
    sleep 1.5
    n=$(grep -c '"seq":' "$T/alerts.json")
    [ "$n" -eq 10 ] && ok "$mode: out of memory, reading stops at the line" || bad "$mode: $n alerts while out of memory (want 10)"
    expect_grep 'out of memory' "$T/agent.log" "$mode: the agent says it is out of memory"
    rm "$T/oom"
    wait_for_count "$T/alerts.json" 13 10 || bad "$mode: the lines did not arrive after memory came back"
    sleep 0.3
    stop_agent
    check_exactly "$T/alerts.json" 1 13 "$mode: with memory back, the line is read again: every line once"
    seqs "$T/alerts.json" | tr '\n' ' ' | grep -q '^1 2 3 4 5 6 7 8 9 10 11 12 13 $' && ok "$mode: in order" || bad "$mode: out of order: $(seqs "$T/alerts.json" | tr '\n' ' ')"
done
finish

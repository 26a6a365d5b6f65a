#!/bin/sh
# Runs fuzz harnesses one after the other, each in one process (the machine is shared).
#   fuzz/run.sh smoke RUNS NAME...   every seed of fuzz/corpus/<seeds>/, then RUNS new inputs;
#                                    verdicts go to build/test-results (make check counts them)
#   fuzz/run.sh long SECONDS NAME... each for SECONDS, the corpus growing in
#                                    build/fuzz/corpus/<name> (seeded from fuzz/corpus)
# The decoder harnesses fuzz_decode_<decoder> share the seeds of fuzz/corpus/decode.
# Each run's output goes to build/fuzz/log/<name>.log (smoke-<name>.log for smoke runs);
# a crash leaves its input in build/fuzz/artifacts/. Exits 1 when any harness failed.
# Run from the top of the tree.
mode=$1
amount=$2
shift 2
mkdir -p build/fuzz/log build/fuzz/artifacts
results=build/test-results
pass=0
fail=0
failed=""
for h in "$@"; do
    seeds=fuzz/corpus/${h#fuzz_}
    case $h in fuzz_decode_*) seeds=fuzz/corpus/decode ;; esac
    log=build/fuzz/log/$h.log
    # smoke runs (make check) have their own logs: they do not clobber a long run's
    [ "$mode" = smoke ] && log=build/fuzz/log/smoke-$h.log
    common="-timeout=10 -rss_limit_mb=2048 -artifact_prefix=build/fuzz/artifacts/$h-"
    if [ "$mode" = smoke ]; then
        # a scratch corpus: the seeds are read, the committed directory is not written
        work=build/fuzz/smoke/$h
        rm -rf "$work" && mkdir -p "$work"
        # shellcheck disable=SC2086
        build/fuzz/"$h" $common -runs="$amount" -seed=1 "$work" "$seeds" >"$log" 2>&1
    else
        work=build/fuzz/corpus/$h
        mkdir -p "$work"
        # shellcheck disable=SC2086
        build/fuzz/"$h" $common -max_total_time="$amount" -print_final_stats=1 "$work" "$seeds" \
            >"$log" 2>&1
    fi
    rc=$?
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
    if [ $rc -eq 0 ] && [ -n "$done_line" ]; then
        pass=$((pass + 1))
        echo "fuzz $h: $done_line"
        [ "$mode" = smoke ] && echo "PASS fuzz $h" >>"$results"
    else
        fail=$((fail + 1))
        failed="$failed $h"
        echo "fuzz $h: FAILED (exit $rc), see $log"
        grep -E 'ERROR|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/    /'
        [ "$mode" = smoke ] && echo "FAIL fuzz $h" >>"$results"
    fi
done
echo "fuzz ($mode): $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "failed:$failed"; exit 1; }

#!/bin/sh
# Runs test programs (unit: cmocka binaries; integration: shell scripts) one after the
# other, records each verdict in build/test-results, and prints "KIND: N passed, N failed".
# Exits 1 when any failed. Always run from the top of the source tree.
kind=$1
shift
mkdir -p build
results=build/test-results
pass=0
fail=0
failed=""
for t in "$@"; do
    [ -e "$t" ] || continue
    name=$(basename "$t")
    case $kind in
    integration) out=$(bash "$t" 2>&1) ;;
    *) out=$("$t" 2>&1) ;;
    esac
    rc=$?
    printf '%s\n' "$out" | sed "s|^|[$name] |" | grep -vE '^\[[^]]*\] \[ (RUN|      OK) ' || true
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        echo "PASS $kind${WARD_SANITIZE:+-san} $name" >>"$results"
    else
        fail=$((fail + 1))
        failed="$failed $name"
        echo "FAIL $kind${WARD_SANITIZE:+-san} $name" >>"$results"
    fi
done
echo "$kind${WARD_SANITIZE:+ (ASan+UBSan)}: $pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "failed:$failed"; exit 1; }

#!/bin/sh
# Prints the totals of every test program run by this `make check`.
r=build/test-results
[ -f "$r" ] || { echo "no test results"; exit 1; }
p=$(grep -c '^PASS' "$r")
f=$(grep -c '^FAIL' "$r")
echo "check: $p passed, $f failed"
[ "$f" -eq 0 ]

#!/bin/sh
# make bench: the multi-pattern core against a naive loop, on the shared benchmark set.
#   bench/run.sh WARD_RULES_BINARY
# Needs ../shared/bench (the fail2ban patterns and corpus; see its README). Prints the
# figures of `ward-rules bench` for 190 rules and for 10x as many, each run comparing
# against a baseline measured in the same process. Environment: BENCH_MB (200), NAIVE_BYTES
# (20000000: how much of the corpus the 1900-rule naive loop reads).
set -eu
bin=${1:-build/ward-rules}
shared=${WARD_SHARED:-../shared/bench}
size_mb=${BENCH_MB:-200}
naive_bytes=${NAIVE_BYTES:-20000000} # the 1900-rule naive loop's share of the corpus
if [ ! -f "$shared/rules-fail2ban.txt" ] || [ ! -f "$shared/corpus-small.log" ]; then
    echo "bench: $shared/rules-fail2ban.txt and corpus-small.log are needed" >&2
    exit 2
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ward-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

perl bench/f2b2rules.pl "$shared/rules-fail2ban.txt" "$tmp/x1" 1
perl bench/f2b2rules.pl "$shared/rules-fail2ban.txt" "$tmp/x10" 10
small=$(wc -c <"$shared/corpus-small.log")
copies=$(( (size_mb * 1000000 + small - 1) / small ))
i=0
while [ $i -lt "$copies" ]; do cat "$shared/corpus-small.log"; i=$((i + 1)); done >"$tmp/corpus.log"
echo "bench: corpus-small.log x $copies = $(( $(wc -c <"$tmp/corpus.log") / 1000000 )) MB"

echo "== 190 rules: core vs naive loop (every pattern on every line, PCRE2 JIT)"
"$bin" bench -r "$tmp/x1" "$tmp/corpus.log"
echo "== 1900 rules (10x): core vs naive loop (naive over the first 20 MB), and vs the"
echo "   190-rule core in the same process"
"$bin" bench -r "$tmp/x10" --naive-bytes "$naive_bytes" --baseline-rules "$tmp/x1" "$tmp/corpus.log"

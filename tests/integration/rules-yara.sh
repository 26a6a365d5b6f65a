#!/bin/bash
# ward-rules match with the YARA rules of rules/yara/attacks.yar over
# tests/data/yara-samples.log: each line reports exactly the rules of that file its
# "# expect:" header names (none: none of them), and every rule of the file is tested.
. "$(dirname "$0")/lib.bash"

Y=rules/yara/attacks.yar
S=tests/data/yara-samples.log

mapfile -t ids < <(sed -n 's/^[[:space:]]*id = "\([^"]*\)".*/\1/p' "$Y")
[ "${#ids[@]}" -gt 0 ] && ok "$Y has ${#ids[@]} rules" || bad "no rule ids in $Y"
declare -A mine=()
for id in "${ids[@]}"; do mine[$id]=1; done

# line number -> expected ids (space-separated, sorted)
declare -A want=() tested=()
cur=""
n=0
while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    case $line in
    '# expect:'*)
        cur=$(printf '%s\n' ${line#'# expect:'} | grep -vx none | sort | tr '\n' ' ')
        for id in $cur; do
            [ -n "${mine[$id]:-}" ] || bad "$S:$n: '$id' is not a rule of $Y"
            tested[$id]=1
        done
        want[$n]=""
        ;;
    '#'* | '') want[$n]="" ;;
    *) want[$n]=$cur ;;
    esac
done <"$S"

"$WR" match -r rules "$S" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "match exits 0" || { bad "match exits $rc"; cat "$T/err"; }

# line number -> ids of attacks.yar reported
declare -A got=()
while read -r where _level id _rest; do
    ln=${where%:}
    ln=${ln##*:}
    [ -n "${mine[$id]:-}" ] && got[$ln]="${got[$ln]:-} $id"
done <"$T/out"

for ((i = 1; i <= n; i++)); do
    g=$(printf '%s\n' ${got[$i]:-} | sort -u | grep -v '^$' | tr '\n' ' ')
    w=${want[$i]:-}
    if [ "$g" != "$w" ]; then
        bad "$S:$i: expected [${w% }], got [${g% }]: $(sed -n "${i}p" "$S" | cut -c1-120)"
    fi
done
[ "$fails" -eq 0 ] && ok "each sample line reports exactly its expected rules ($n lines)"

for id in "${ids[@]}"; do
    [ -n "${tested[$id]:-}" ] && ok "$id has samples" || bad "$id has no samples in $S"
done

"$WR" check rules >"$T/check" 2>&1
if sed -n '/have no usable literal/,/^[^ ]/p' "$T/check" | grep -qF -f <(printf '%s\n' "${ids[@]}"); then
    bad "a rule of $Y runs on every event (no usable literal)"
else
    ok "every rule of $Y has a literal for the prefilter"
fi
finish

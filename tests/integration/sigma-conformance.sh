#!/bin/bash
# SigmaHQ rules, unchanged, on log lines written for them in their sources' real formats
# (tests/data/sigma-samples/*.samples): each rule matches what it describes and not the
# near misses. A line the rule describes that ward cannot get right is a 'miss:' (or an
# 'extra:' for a wrong match) with a 'why:', checked to still behave so and listed.
#
# Sample files: blocks of
#   rule: PATH under tests/data/sigma
#   decoder: NAME            (as ward-rules match -d)
#   match: LINE              (one or more)
#   no_match: LINE           (one or more)
#   miss: LINE / extra: LINE, each followed by why: REASON
. "$(dirname "$0")/lib.bash"

S=tests/data/sigma
D=tests/data/sigma-samples
nrules=0 nmatch=0 nnomatch=0 nlimits=0
declare -A sources
: >"$T/limits"

# run_block: checks the block collected in rule/dec and the sample files.
run_block() {
    [ -n "$rule" ] || return 0
    nrules=$((nrules + 1))
    local f="$S/$rule" id
    id=$(sed -n 's/^id: *//p' "$f" | head -1)
    sources["$dec"]=1
    if ! [ -s "$T/lines" ]; then
        bad "$rule: no samples"
        return
    fi
    "$WR" match -r "$f" -d "$dec" "$T/lines" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ $rc -ne 0 ]; then
        bad "$rule: ward-rules match exits $rc"
        sed 's/^/    /' "$T/err"
        return
    fi
    local i=0 kind line got want
    while IFS=$'\t' read -r kind line; do
        i=$((i + 1))
        if grep -q "^$T/lines:$i: [a-z]* $id " "$T/out"; then got=1; else got=0; fi
        case $kind in
        match) want=1 nmatch=$((nmatch + 1)) ;;
        no_match) want=0 nnomatch=$((nnomatch + 1)) ;;
        miss) want=0 ;;
        extra) want=1 ;;
        esac
        if [ $got -eq $want ]; then
            ok "$rule: $kind sample $i"
        else
            bad "$rule: $kind sample $i: $([ $got -eq 1 ] && echo matched || echo 'did not match')"
            echo "    line: $line"
            "$WR" match -r "$f" -d "$dec" --explain <<<"$line" 2>/dev/null | sed 's/^/    /'
        fi
    done <"$T/kinds"
}

for sf in "$D"/*.samples; do
    rule="" dec="auto"
    : >"$T/lines"
    : >"$T/kinds"
    pending=""
    while IFS= read -r l || [ -n "$l" ]; do
        case $l in
        '' | '#'*) continue ;;
        rule:*)
            [ -z "$pending" ] || bad "$sf: '$pending' sample without why:"
            run_block
            rule=${l#rule: } dec=auto pending=""
            : >"$T/lines"
            : >"$T/kinds"
            ;;
        decoder:*) dec=${l#decoder: } ;;
        match:* | no_match:* | miss:* | extra:*)
            kind=${l%%:*}
            line=${l#*: }
            printf '%s\n' "$line" >>"$T/lines"
            printf '%s\t%s\n' "$kind" "$line" >>"$T/kinds"
            if [ "$kind" = miss ] || [ "$kind" = extra ]; then
                pending=$kind
                nlimits=$((nlimits + 1))
            fi
            ;;
        why:*)
            if [ -z "$pending" ]; then
                bad "$sf: why: without a miss: or extra: before it"
            else
                printf '%s (%s): %s\n' "$rule" "$pending" "${l#why: }" >>"$T/limits"
                pending=""
            fi
            ;;
        *) bad "$sf: cannot read: $l" ;;
        esac
    done <"$sf"
    [ -z "$pending" ] || bad "$sf: '$pending' sample without why:"
    run_block
done

echo "# conformance: $nrules rules, $nmatch match and $nnomatch no_match samples, decoders: ${!sources[*]}"
[ "$nrules" -ge 30 ] && ok "at least 30 rules sampled" || bad "only $nrules rules sampled"
if [ -s "$T/limits" ]; then
    echo "# $nlimits known limitations:"
    sed 's/^/#   /' "$T/limits"
fi
finish

#!/bin/bash
# ward-rules match over the demo logs: the expected detections, JSON, explain, long lines.
. "$(dirname "$0")/lib.bash"

"$WR" match -r rules tests/data/demo/auth.log tests/data/demo/access.log >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "match exits 0" || { bad "match exits $rc"; cat "$T/err"; }
expect_grep '^tests/data/demo/auth.log:1: medium ward-sshd-possible-break-in ".*" src_ip=173\.234\.31\.186$' "$T/out" "break-in attempt on line 1"
expect_grep '^tests/data/demo/auth.log:2: low ward-sshd-invalid-user ".*" user=webmaster src_ip=173\.234\.31\.186' "$T/out" "invalid user with fields"
expect_grep 'auth.log:[0-9]+: medium ward-sudo-not-in-sudoers .* user=alice' "$T/out" "sudo refusal"
expect_grep 'access.log:4: high ward-web-path-traversal .* src_ip=203\.0\.113\.7' "$T/out" "path traversal"
expect_grep 'access.log:6: high ward-web-sql-injection' "$T/out" "SQL injection"
expect_grep 'access.log:9: high ward-yara-webshell-names' "$T/out" "YARA web shell rule"
if grep -q 'access.log:8:' "$T/out"; then bad "benign 'union selection' query matched"; else ok "benign query not matched"; fi
if grep -q 'sshd-.*auth.log:5[0-9]:' "$T/out"; then bad "sudo lines hit sshd rules"; else ok "sshd rules stay on sshd"; fi
expect_grep '^ward-rules: 67 lines, [0-9]+ matches' "$T/err" "summary on stderr"

"$WR" match -r rules --json tests/data/demo/access.log >"$T/json" 2>/dev/null
perl -MJSON::PP -ne 'my $o = decode_json($_); die "no rule id\n" unless $o->{rule}{id}; $n++; END { print "$n\n" }' "$T/json" >"$T/n" 2>"$T/perr"
[ -s "$T/perr" ] && { bad "--json output is not valid JSON"; cat "$T/perr"; } || ok "--json lines parse as JSON"
[ "$(cat "$T/n")" -ge 4 ] && ok "--json reports the matches" || bad "--json reported $(cat "$T/n")"
expect_grep '"cs-uri-stem":"/download.php"' "$T/json" "--json carries decoded fields"
# a field that is not UTF-8, with a control character and an escaped quote, is still valid JSON
sed -n 4p tests/data/demo/access.log | sed 's/"-" "/"-" "x\xff\x01\\"y /' >"$T/bad.log"
"$WR" match -r rules --json "$T/bad.log" >"$T/json" 2>/dev/null
perl -MJSON::PP -ne 'my $o = decode_json($_); my $u = $o->{event}{"cs-user-agent"} // "";
    print join(" ", map { sprintf "%x", ord } split //, substr($u, 0, 5)), "\n"' "$T/json" \
    >"$T/ua" 2>"$T/perr"
[ "$(cat "$T/ua")" = "78 fffd 1 5c 22" ] && ok "--json escapes a field's bytes, U+FFFD for what is not UTF-8" ||
    { bad "--json on bytes that are not UTF-8: $(cat "$T/ua")"; cat "$T/perr"; }

head -6 tests/data/demo/access.log | tail -1 | "$WR" match -r rules --explain - >"$T/x" 2>&1
expect_grep 'decoder=combined_access' "$T/x" "--explain shows the decoder"
expect_grep 'field cs-uri-query = ' "$T/x" "--explain shows decoded fields"
expect_grep 'prefilter: [0-9]+ of [0-9]+ rules are candidates' "$T/x" "--explain shows the candidates"
expect_grep 'candidate ward-web-sql-injection .*literal' "$T/x" "--explain names the literal that chose a candidate"

# a 200 KB line is cut at --max-line, counted, and the next line still matches
{ printf 'Dec 10 06:55:46 LabSZ sshd[1]: '; head -c 200000 /dev/zero | tr '\0' 'x'; echo;
  echo 'Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user zed from 198.51.100.1'; } >"$T/long.log"
"$WR" match -r rules --max-line 4096 "$T/long.log" >"$T/out" 2>"$T/err"
expect_grep 'long.log:2: low ward-sshd-invalid-user .*user=zed' "$T/out" "line after a long line is read"
expect_grep '2 lines, 1 matches, 1 lines cut at 4096 bytes' "$T/err" "cut lines are counted and reported"

"$WR" match -r rules "$T/nonexistent" >/dev/null 2>"$T/err"
[ $? -eq 2 ] && ok "unreadable input exits 2" || bad "unreadable input exit code"
finish

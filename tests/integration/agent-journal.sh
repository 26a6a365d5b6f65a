#!/bin/bash
# ward-agent's journal source on real journal files, made without journald by
# systemd-journal-remote from export format: syslog-shaped lines that the shipped sshd rules
# match, journal fields, binary and overlong messages, cursor bookmarks (resumed, and lost),
# the first run at the tail, matches, and the errors of a bad match or a missing file.
. "$(dirname "$0")/lib.bash"
AG="$B/ward-agent"
JR=
for p in /lib/systemd/systemd-journal-remote /usr/lib/systemd/systemd-journal-remote; do
    [ -x "$p" ] && { JR=$p; break; }
done
if [ -z "$JR" ]; then
    bad "systemd-journal-remote is missing: it makes the test journals (packaging/deps.sh installs it; apt-get install systemd-journal-remote)"
    finish
fi
# lines show local time, as rsyslog writes them: fix the zone so that they are known
export TZ=UTC

BOOT=0123456789abcdef0123456789abcdef
T0=1765349748 # 2025-12-10 06:55:48 UTC

# entry SECONDS_AFTER_T0 IDENT PID MESSAGE [FIELD=VALUE...]: one entry in export format
entry() {
    local d=$1 ident=$2 pid=$3 msg=$4
    shift 4
    printf '__REALTIME_TIMESTAMP=%d000000\n__MONOTONIC_TIMESTAMP=%d000000\n' $((T0 + d)) $((1000 + d))
    printf '_BOOT_ID=%s\n_HOSTNAME=LabSZ\n_TRANSPORT=syslog\nPRIORITY=6\n' "${BOOT}"
    [ -n "$ident" ] && printf 'SYSLOG_IDENTIFIER=%s\n' "$ident"
    [ -n "$pid" ] && printf '_PID=%s\n' "$pid"
    local f
    for f in "$@"; do printf '%s\n' "$f"; done
    printf 'MESSAGE=%s\n\n' "$msg"
}
# binary_entry SECONDS_AFTER_T0 IDENT PID FILE: an entry whose MESSAGE (the bytes of FILE,
# newlines included) is in the binary form: name, 64-bit little-endian length, data
binary_entry() {
    local d=$1 ident=$2 pid=$3 file=$4 n i
    printf '__REALTIME_TIMESTAMP=%d000000\n__MONOTONIC_TIMESTAMP=%d000000\n' $((T0 + d)) $((1000 + d))
    printf '_BOOT_ID=%s\n_HOSTNAME=LabSZ\nSYSLOG_IDENTIFIER=%s\n_PID=%s\n' "$BOOT" "$ident" "$pid"
    n=$(wc -c <"$file")
    printf 'MESSAGE\n'
    for i in 0 1 2 3 4 5 6 7; do printf "\\x$(printf %02x $(((n >> (8 * i)) & 255)))"; done
    cat "$file"
    printf '\n\n'
}
# journal FILE.journal < EXPORT: writes (or appends to) a journal file
journal() {
    "$JR" -o "$1" - 2>"$T/jr.err" || { bad "systemd-journal-remote -o $1 failed"; cat "$T/jr.err"; }
}
# config FILE STATE_DIR SOURCE-YAML-LINES...: an agent configuration with one journal source j
config() {
    local f=$1 st=$2 l
    shift 2
    {
        printf 'agent:\n  name: t\n  state_dir: %s\nrules:\n  paths: [rules]\n' "$st"
        printf 'outputs:\n  file:\n    path: %s/alerts.json\n' "$st"
        printf 'sources:\n  - type: journal\n    name: j\n'
        for l in "$@"; do printf '    %s\n' "$l"; done
    } >"$f"
}
lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
count() { grep -c -- "$1" "$2" 2>/dev/null || true; }

mkdir -p "$T/j" "$T/other" "$T/older"

# ---- batch 1: detections, benign entries, a binary message, an overlong one ----
printf 'Failed password for invalid user guest from 198.51.100.77 port 2222 ssh2\nsecond line\n' >"$T/bin.msg"
long="Failed password for root from 192.0.2.50 port 1 ssh2 $(head -c 1000 /dev/zero | tr '\0' x)"
{
    entry 0 sshd 24200 'Failed password for root from 112.95.230.3 port 41090 ssh2' \
        _SYSTEMD_UNIT=ssh.service _UID=0 _COMM=sshd _EXE=/usr/sbin/sshd
    entry 1 sshd 24201 'Invalid user admin from 203.0.113.9 port 4242' _SYSTEMD_UNIT=ssh.service
    entry 2 sshd 24202 'Accepted password for alice from 10.0.0.5 port 50000 ssh2' _SYSTEMD_UNIT=ssh.service
    entry 3 '' 811 'pam_unix(cron:session): session opened for user root' _COMM=cron
    entry 4 systemd 1 'Started Daily apt upgrade and clean activities.'
    binary_entry 5 sshd 24203 "$T/bin.msg"
    entry 6 sshd 24204 "$long"
} >"$T/b1.export"
journal "$T/j/test.journal" <"$T/b1.export"

S1=$T/s1
config "$T/c1.yml" "$S1" "journal_dir: $T/j" 'start_at: beginning' 'max_line: 300'
"$AG" --once -c "$T/c1.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "--once over a journal_dir exits 0" || { bad "--once exits $rc"; cat "$T/err"; }
A=$S1/alerts.json
[ "$(lines "$A")" -eq 4 ] && ok "4 alerts from batch 1" || { bad "$(lines "$A") alerts from batch 1, not 4"; cat "$A"; }
expect_grep '"id":"ward-sshd-failed-password".*"extracted":\{"user":"root","src_ip":"112\.95\.230\.3","src_port":"41090"\}' "$A" "failed password: rule and extracted fields"
expect_grep '"source":\{"ip":"112\.95\.230\.3","port":41090\},"user":\{"name":"root"\}' "$A" "failed password: ECS source.ip and user.name"
expect_grep '"original":"Dec 10 06:55:48 LabSZ sshd\[24200\]: Failed password for root from 112\.95\.230\.3 port 41090 ssh2"' "$A" "the entry becomes a classic syslog line"
expect_grep '"id":"ward-sshd-invalid-user".*"extracted":\{"user":"admin","src_ip":"203\.0\.113\.9","src_port":"4242"\}' "$A" "invalid user: rule and extracted fields"
expect_grep '"source":\{"kind":"journal","name":"j","cursor":"s=[0-9a-f]+;i=1;b=[0-9a-f]+;m=[0-9a-f]+;t=[0-9a-f]+;x=[0-9a-f]+"\}' "$A" "the alert names the journal source and the entry's cursor"
expect_grep '"journal__SYSTEMD_UNIT":"ssh\.service"' "$A" "journal field _SYSTEMD_UNIT in the event"
expect_grep '"journal__UID":"0"' "$A" "journal field _UID in the event"
expect_grep '"journal__EXE":"/usr/sbin/sshd"' "$A" "journal field _EXE in the event"
expect_grep '"extracted":\{"user":"guest","src_ip":"198\.51\.100\.77","src_port":"2222"\}' "$A" "a binary MESSAGE with newlines is matched"
expect_grep '"original":"Dec 10 06:55:53 LabSZ sshd\[24203\]: Failed password for invalid user guest from 198\.51\.100\.77 port 2222 ssh2\\nsecond line\\n"' "$A" "the binary MESSAGE is kept whole, newlines included"
expect_grep '"src_ip":"192\.0\.2\.50".*|"truncated":true.*192\.0\.2\.50' "$A" "an overlong MESSAGE still matches"
if grep '192\.0\.2\.50' "$A" | grep -q '"truncated":true'; then ok "the overlong entry is flagged truncated"; else bad "the overlong entry is not flagged truncated"; fi
if grep -q 'x\{300\}' "$A"; then bad "the overlong line was not cut at max_line"; else ok "the overlong line is cut at max_line"; fi
if grep -qE 'Accepted password|session opened|Daily apt' "$A"; then bad "benign entries raised alerts"; else ok "no alert for benign entries"; fi
expect_grep '"entries":7,"cursor_lost":0' "$S1/stats.json" "stats: entries and cursor_lost"
expect_grep '"records":7,"bytes":[0-9]+,"truncated":1' "$S1/stats.json" "stats: the cut entry is counted"
expect_grep "^journal	j	s=[0-9a-f]+;i=7;" "$S1/bookmarks" "the bookmark holds the cursor of the last entry"

# ---- batch 2, in a new file of the directory: only it raises alerts ----
{
    entry 100 sshd 24300 'Failed password for oracle from 198.51.100.23 port 5555 ssh2'
    entry 101 sshd 24301 'Invalid user test from 203.0.113.44 port 4444'
    entry 102 CRON 24302 '(root) CMD (run-parts /etc/cron.hourly)'
} >"$T/b2.export"
journal "$T/j/second.journal" <"$T/b2.export"
"$AG" --once -c "$T/c1.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "second --once exits 0" || { bad "second --once exits $rc"; cat "$T/err"; }
[ "$(lines "$A")" -eq 6 ] && ok "the second run adds exactly batch 2's 2 alerts" || { bad "$(lines "$A") alerts after the second run, not 6"; cat "$A"; }
[ "$(count '"user":"oracle"' "$A")" -eq 1 ] && [ "$(count '"user":"test"' "$A")" -eq 1 ] && ok "batch 2's alerts are there" || bad "batch 2's alerts are missing"
[ "$(count '"user":"root","src_ip":"112' "$A")" -eq 1 ] && ok "batch 1 is not read again (the cursor bookmark worked)" || bad "batch 1 was read again"
dups=$(grep -o '"event":{"kind":"alert","id":"[0-9a-f]*"' "$A" | sort | uniq -d)
[ -z "$dups" ] && ok "no alert id repeats (the bookmarked entry is not read again)" || bad "alerts repeated: $dups"
expect_grep '"entries":3,"cursor_lost":0,"resumed_from_bookmark":1' "$S1/stats.json" "stats: resumed from the bookmark, 3 new entries"
expect_grep "^journal	j	s=[0-9a-f]+;i=3;" "$S1/bookmarks" "the bookmark moved to the new file's last entry"
cp "$S1/bookmarks" "$T/bookmarks.s1"

# ---- first run of an agent: the tail; then only what was appended (journal_files) ----
S2=$T/s2
config "$T/c2.yml" "$S2" "journal_files: [$T/j/test.journal]"
"$AG" --once -c "$T/c2.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "--once over journal_files exits 0" || { bad "--once over journal_files exits $rc"; cat "$T/err"; }
[ "$(lines "$S2/alerts.json")" -eq 0 ] && ok "the first run starts at the journal's tail" || { bad "the first run read old entries"; cat "$S2/alerts.json"; }
expect_grep "^journal	j	s=[0-9a-f]+;i=7;" "$S2/bookmarks" "the first run bookmarks the tail"
{
    entry 200 sshd 24400 'Failed password for mallory from 198.51.100.99 port 6666 ssh2'
    entry 201 su 24401 'pam_unix(su:session): session closed for user root'
} >"$T/b3.export"
journal "$T/j/test.journal" <"$T/b3.export" # appends
"$AG" --once -c "$T/c2.yml" >"$T/out" 2>"$T/err"
[ "$(lines "$S2/alerts.json")" -eq 1 ] && [ "$(count '"user":"mallory"' "$S2/alerts.json")" -eq 1 ] &&
    ok "entries appended to a journal file are read, and only they" || { bad "appended entries: wrong alerts"; cat "$S2/alerts.json" "$T/err"; }

# ---- a bookmark whose entry is not there (a cursor of another journal) ----
{
    entry 300 sshd 24500 'Invalid user eve from 203.0.113.66 port 1234'
    entry 301 sshd 24501 'Connection closed by 203.0.113.66 port 1234 [preauth]'
} | sed 's/^_BOOT_ID=0123.*/_BOOT_ID=fedcba9876543210fedcba9876543210/' >"$T/b4.export"
journal "$T/other/other.journal" <"$T/b4.export"
S3=$T/s3
mkdir -p "$S3"
cp "$T/bookmarks.s1" "$S3/bookmarks"
config "$T/c3.yml" "$S3" "journal_files: [$T/other/other.journal]"
"$AG" --once -c "$T/c3.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "a lost cursor does not stop the agent" || { bad "a lost cursor: exit $rc"; cat "$T/err"; }
expect_grep 'warning: source j: the bookmarked entry \(of 2025-12-10T06:57:30\.000Z\) is no longer in the journal .*\(of 2025-12-10T07:00:48\.000Z\) may have been missed' "$T/err" "a lost cursor is warned about, with the gap"
expect_grep '"cursor_lost":1' "$S3/stats.json" "a lost cursor is counted"
[ "$(count '"user":"eve"' "$S3/alerts.json")" -eq 1 ] && ok "reading continues at the first available entry" || { bad "the first available entry was not read"; cat "$S3/alerts.json"; }
expect_grep "^journal	j	s=[0-9a-f]+;i=2;" "$S3/bookmarks" "the bookmark now holds a cursor of this journal"
"$AG" --once -c "$T/c3.yml" >"$T/out" 2>"$T/err"
if grep -q 'no longer in the journal' "$T/err"; then bad "the next run warns again"; else ok "the next run resumes without a warning"; fi

# a bookmark later than every entry there: warned, counted, reading goes on at the end
entry -100 sshd 24600 'Invalid user old from 203.0.113.70' | sed 's/^_BOOT_ID=0123.*/_BOOT_ID=00112233445566778899aabbccddeeff/' >"$T/b5.export"
journal "$T/older/older.journal" <"$T/b5.export"
S4=$T/s4
mkdir -p "$S4"
cp "$T/bookmarks.s1" "$S4/bookmarks"
config "$T/c4.yml" "$S4" "journal_files: [$T/older/older.journal]"
"$AG" --once -c "$T/c4.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && ok "a cursor past every entry does not stop the agent" || { bad "a cursor past every entry: exit $rc"; cat "$T/err"; }
expect_grep 'warning: source j: the bookmarked entry is no longer in the journal, and every entry there is older' "$T/err" "a cursor past every entry is warned about"
expect_grep '"cursor_lost":1' "$S4/stats.json" "and counted"

# ---- matches: one field's values OR, different fields AND ----
S5=$T/s5
config "$T/c5.yml" "$S5" "journal_files: [$T/j/test.journal]" 'start_at: beginning' \
    'match: [_SYSTEMD_UNIT=ssh.service, _PID=24200]'
"$AG" --once -c "$T/c5.yml" >"$T/out" 2>"$T/err"
[ "$(lines "$S5/alerts.json")" -eq 1 ] && [ "$(count '"user":"root","src_ip":"112' "$S5/alerts.json")" -eq 1 ] &&
    ok "matches on different fields are ANDed" || { bad "AND of matches: wrong alerts"; cat "$S5/alerts.json" "$T/err"; }
S6=$T/s6
config "$T/c6.yml" "$S6" "journal_files: [$T/j/test.journal]" 'start_at: beginning' \
    'match: [_PID=24200, _PID=24201]'
"$AG" --once -c "$T/c6.yml" >"$T/out" 2>"$T/err"
[ "$(lines "$S6/alerts.json")" -eq 2 ] && [ "$(count '"user":"admin"' "$S6/alerts.json")" -eq 1 ] &&
    ok "matches on one field are ORed" || { bad "OR of matches: wrong alerts"; cat "$S6/alerts.json" "$T/err"; }

# ---- errors: a malformed match, journal_files with journal_dir, a missing file ----
config "$T/c7.yml" "$T/s7" "journal_files: [$T/j/test.journal]" 'match: [_SYSTEMD_UNIT=ssh.service, "unit is ssh"]'
"$AG" --once -c "$T/c7.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && ok "a malformed match makes --once fail" || bad "a malformed match was accepted"
expect_grep "c7\.yml:10:5: sources\[0\]: match 'unit is ssh': expected FIELD=VALUE" "$T/err" "the error names the file, line and match"
"$AG" --check -c "$T/c7.yml" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "--check refuses a malformed match" || bad "--check accepted a malformed match"
config "$T/c10.yml" "$T/s10" "journal_files: [$T/j/test.journal]" "journal_dir: $T/j"
"$AG" --check -c "$T/c10.yml" >"$T/out" 2>&1
[ $? -eq 1 ] && ok "--check refuses journal_files with journal_dir" || bad "--check accepted journal_files with journal_dir"
expect_grep "c10\.yml:[0-9]+:[0-9]+: sources\[0\]: 'journal_files' and 'journal_dir' cannot both be set" "$T/out" "the clash names the file and line"
config "$T/c8.yml" "$T/s8" "journal_files: [$T/nope.journal]"
"$AG" --once -c "$T/c8.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && ok "a missing journal file makes --once fail" || bad "a missing journal file was accepted"
expect_grep "error: source j: journal file $T/nope.journal: No such file or directory" "$T/err" "the error names the source and the file"
config "$T/c9.yml" "$T/s9" "journal_dir: $T/nodir"
"$AG" --once -c "$T/c9.yml" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -ne 0 ] && ok "a missing journal_dir makes --once fail" || bad "a missing journal_dir was accepted"
expect_grep "error: source j: cannot open the journal in $T/nodir" "$T/err" "the error names the source and the directory"

# ---- permission denied: nothing readable is an error naming the source ----
mkdir -p "$T/pd/j" "$T/pd/s"
cp "$T/j/test.journal" "$T/pd/j/"
chmod 000 "$T/pd/j/test.journal"
config "$T/pd/c.yml" "$T/pd/s" "journal_dir: $T/pd/j"
as=()
if [ "$(id -u)" -eq 0 ]; then
    # root reads everything: run the agent as nobody, who may read the test's files
    chmod 711 "$T"
    chmod 755 "$T/pd" "$T/pd/j"
    chmod 777 "$T/pd/s"
    chmod 644 "$T/pd/c.yml"
    as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    command -v setpriv >/dev/null && "${as[@]}" test -x "$AG" -a -r rules/linux/sshd.yml || as=(none)
fi
if [ "${as[0]-}" = none ]; then
    ok "permission test skipped: running as root without setpriv, or nobody cannot run $AG"
else
    "${as[@]}" "$AG" --once -c "$T/pd/c.yml" >"$T/out" 2>"$T/err"
    rc=$?
    [ $rc -ne 0 ] && ok "an unreadable journal makes --once fail" || bad "an unreadable journal was accepted"
    expect_grep "error: source j: permission denied: none of the 1 journal files can be read" "$T/err" "the error names the source and says what is missing"
fi
finish

#!/bin/bash
# start_at: end skips what the files held when the agent started, and nothing else: lines
# appended later, the new file of a rename rotation and a file that appears later are read
# whole; with inotify and with polling. After a restart, a bookmarked file resumes.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/agent_lib.bash"

L="$T/logs/app.log"

# wait_started: until the agent says it started (its first scan is done by then)
wait_started() {
    local i=0
    while [ "$i" -lt 200 ]; do
        grep -q 'started:' "$T/agent.log" 2>/dev/null && return 0
        sleep 0.05
        i=$((i + 1))
    done
    return 1
}

for mode in inotify poll; do
    rm -rf "$T/state" "$T/logs" "$T/agent.log"
    : >"$T/alerts.json"
    extra=("poll: false")
    [ $mode = poll ] && extra=("poll: true")
    write_config "$T/a.yml" "start_at: end" "${extra[@]}"
    gen "$L" 1 5
    start_agent "$T/a.yml"
    wait_started || bad "$mode: the agent did not start"
    gen "$L" 6 10
    wait_for_count "$T/alerts.json" 5 10 || bad "$mode: appended lines did not arrive"
    # the new file after a rename rotation, and another one: each appears with its
    # lines in it (made under another name, then renamed), as a scan may find any file
    mv "$L" "$L.1"
    gen "$T/logs/new.tmp" 11 20
    mv "$T/logs/new.tmp" "$L"
    gen "$T/logs/later.tmp" 21 30
    mv "$T/logs/later.tmp" "$T/logs/later.log"
    wait_for_count "$T/alerts.json" 25 10 || bad "$mode: the new files were not read"
    sleep 0.3
    check_exactly "$T/alerts.json" 6 30 "$mode, start_at: end: only what existed at the start is skipped"
    stop_agent

    # a restart: the bookmarked files resume where they were, a file without a
    # bookmark that exists now starts at its end
    gen "$L" 31 35
    gen "$T/logs/other.log" 101 105
    : >"$T/agent.log"
    start_agent "$T/a.yml"
    wait_started || bad "$mode: the agent did not start again"
    gen "$T/logs/other.log" 36 40
    wait_for_count "$T/alerts.json" 35 10 || bad "$mode: lines after the restart did not arrive"
    sleep 0.3
    stop_agent
    check_exactly "$T/alerts.json" 6 40 "$mode, start_at: end after a restart: bookmarks are kept"
done
finish

#!/bin/sh
# export.sh DIR: a clean copy of the source tree in DIR (made anew), for make deb and
# make rpm: in a git checkout the files git tracks plus new ones it does not ignore
# (so that uncommitted work is packaged as it is); elsewhere everything but build/.
set -eu
dir=$1
cd "$(dirname "$0")/.."
rm -rf "$dir"
mkdir -p "$dir"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # deleted but not yet committed files are listed by ls-files: skip them
    git ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -xf - -C "$dir"
else
    tar --exclude=./build -cf - . | tar -xf - -C "$dir"
fi

#!/bin/sh
# changelog-entry.sh VERSION CHANGELOG: puts an entry for VERSION at the top of a Debian
# changelog (make deb VERSION=..., for upgrade tests), as dch -v would.
set -eu
version=$1
file=$2
maint=$(sed -n 's/^ -- \(.*>\)  .*/\1/p' "$file" | head -n 1)
tmp="$file.new"
{
    printf 'ward (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Built as version %s (make deb VERSION=%s).\n\n' "$version" "$version"
    printf ' -- %s  %s\n\n' "$maint" "$(date -R)"
    cat "$file"
} >"$tmp"
mv "$tmp" "$file"

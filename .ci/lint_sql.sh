#!/usr/bin/env bash
# Lint the SQL: squawk on schema/*.sql (settings in .squawk.toml), sqlfluff on
# queries/*.sql (settings in .sqlfluff). Exits non-zero on any finding.
#
# squawk sees one part of a migration file at a time: the other part's lines are blanked
# so line numbers stay those of the file. Per part it adds, after the last line:
# * transaction:false on the marker: "-- squawk-disable-assume-in-transaction";
# * down parts: "-- squawk-ignore-file" for the ban-drop-* rules (a down part drops
#   what its up part created);
# * files 0001..0010 (applied, checksummed, never edited): "-- squawk-ignore-file" for
#   prefer-text-field and prefer-bigint-over-int (the seeds' types; see .squawk.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

DOWN_IGNORES="ban-drop-table, ban-drop-column, ban-drop-function, ban-drop-extension,"
DOWN_IGNORES+=" ban-drop-not-null, ban-drop-default"
LEGACY_IGNORES="prefer-text-field, prefer-bigint-over-int"
LEGACY_LAST=10

# The view of one part of a file: $1 file, $2 up|down, $3 rules to ignore in it. The
# other part, the header and the markers become blank lines; the directives for squawk
# follow the last line (squawk reads them anywhere in the file).
part_view() {
    awk -v want="$2" -v ignores="$3" '
        /^--[ \t]*migrate:(up|down)/ {
            part = ($0 ~ /migrate:up/) ? "up" : "down"
            if (part == want && $0 ~ /transaction:false/) autocommit = 1
            print ""
            next
        }
        { print (part == want ? $0 : "") }
        END {
            if (autocommit) print "-- squawk-disable-assume-in-transaction"
            if (ignores != "") print "-- squawk-ignore-file " ignores
        }
    ' "$1"
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
for file in schema/*.sql; do
    version=$(basename "$file" | cut -d_ -f1)
    legacy=""
    if ((10#$version <= LEGACY_LAST)); then
        legacy="$LEGACY_IGNORES"
    fi
    up_ignores="$legacy"
    down_ignores="$DOWN_IGNORES${legacy:+, $legacy}"
    part_view "$file" up "$up_ignores" \
        | squawk --config .squawk.toml --stdin-filepath "$file" >"$out" 2>&1 \
        || { status=1; cat "$out"; }
    part_view "$file" down "$down_ignores" \
        | squawk --config .squawk.toml --stdin-filepath "$file" >"$out" 2>&1 \
        || { status=1; cat "$out"; }
done
if ((status == 0)); then
    echo "squawk: schema/*.sql clean ($(ls schema/*.sql | wc -l) files, up and down parts)"
fi

sqlfluff lint queries/ || status=1
exit "$status"

#!/usr/bin/env bash
# Short versions of the peer benchmarks for CI: each runs a few seconds and fails only on a
# gross regression (ours more than 3x a generous bound relative to the peer measured in the
# same run), never on absolute times. Usage: benchmarks/smoke.sh ADMIN_DSN
# (a scratch database is created next to ADMIN_DSN's, migrated, and dropped).
set -euo pipefail
ADMIN_DSN=${1:-postgresql://postgres@127.0.0.1:5432/postgres}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
PY=${PYTHON:-python}
DB=pydal_bench_smoke_$$
DSN=${ADMIN_DSN%/*}/$DB
psql "$ADMIN_DSN" -qc "create database $DB"
trap 'psql "$ADMIN_DSN" -qc "drop database if exists $DB with (force)"' EXIT
cd "$ROOT"
"$PY" -m pydal_lite.migrate --dsn "$DSN" up >/dev/null
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
"$PY" "$HERE/peers/bench_smoke.py" "$DSN"

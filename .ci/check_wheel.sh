#!/usr/bin/env bash
# The built wheel (not the checkout) must carry schema/ and queries/: install it
# into a scratch venv and migrate a scratch database from another directory.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dsn_admin="${1:?usage: check_wheel.sh ADMIN_DSN}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip build
"$work/venv/bin/python" -m build --wheel --outdir "$work/dist" "$root" >/dev/null
"$work/venv/bin/pip" install --quiet "$work"/dist/pydal_lite-*.whl

db="pydal_wheel_check_$$"
psql "$dsn_admin" -qc "create database $db"
trap 'psql "$dsn_admin" -qc "drop database if exists $db with (force)"; rm -rf "$work"' EXIT
dsn="$("$work/venv/bin/python" -c 'import sys; from pydal_lite.dsn import with_database; print(with_database(sys.argv[1], sys.argv[2]))' "$dsn_admin" "$db")"

cd "$work"  # not the checkout: only the installed copy can be found
"$work/venv/bin/python" - <<'PY'
from pydal_lite.resources import queries_dir, schema_dir
assert "site-packages" in str(schema_dir()), schema_dir()
assert (queries_dir() / "server.sql").is_file(), queries_dir()
print("wheel carries", schema_dir(), "and", queries_dir())
PY
"$work/venv/bin/pydal-migrate" --dsn "$dsn" up
"$work/venv/bin/pydal-migrate" --dsn "$dsn" verify

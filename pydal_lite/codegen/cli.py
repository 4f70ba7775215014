"""Command line of the generator: write, or with ``--check`` compare, the typed modules."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import psycopg

from ..dsn import connect_error, resolve
from ..errors import PydalError
from .generate import PACKAGE_DIR, Generated, generate
from .render import HEADER, PACKAGES

_BLOCK = re.compile(r"^(?:async def |def |class )?(\w+)", re.MULTILINE)
_GENERATED_MARK = HEADER.split(" from ")[0]

EPILOG = """\
Each query in queries/*.sql is prepared on a scratch database (created, migrated with
schema/ and dropped on the server of --dsn, DATABASE_URL, PG* variables, or the embedded
default server) and typed from the server's description of it. Nullability can be
overridden in the query's comment: -- @nonnull col, ...  -- @nullable col, ...
-- @nullable-params param, ...

exit codes: 0 written / up to date, 1 --check found stale code, 2 a query cannot be
prepared or typed, 3 the server refused the generator's own work (e.g. no CREATEDB),
4 cannot connect
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m pydal_lite.codegen",
        description="Generate typed query functions from queries/*.sql.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--check", action="store_true", help="compare with the checked-in code")
    p.add_argument("--dsn", help="server to create the scratch database on")
    p.add_argument("--queries-dir", type=Path, help="query files (default: queries/)")
    p.add_argument("--schema-dir", type=Path, help="migrations (default: schema/)")
    p.add_argument("--out", type=Path, default=PACKAGE_DIR, help="package folder to write into")
    return p


def _blocks(text: str) -> dict[str, str]:
    starts = [(m.start(), m.group(1)) for m in _BLOCK.finditer(text)]
    blocks: dict[str, str] = {}
    for i, (start, name) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(text)
        blocks[name] = blocks.get(name, "") + text[start:end]
    return blocks


def _describe_change(path: str, old: str, new: str) -> list[str]:
    before, after = _blocks(old), _blocks(new)
    lines = []
    for name in sorted(set(before) | set(after)):
        if before.get(name) == after.get(name):
            continue
        what = "added" if name not in before else "removed" if name not in after else "changed"
        lines.append(f"{path}: {name}: {what}")
    return lines or [f"{path}: differs"]


def _existing(out: Path) -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        for path in sorted((out / package).glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.startswith(_GENERATED_MARK):
                found[f"{package}/{path.name}"] = text
    return found


def _compare(gen: Generated, out: Path) -> list[str]:
    existing = _existing(out)
    problems: list[str] = []
    for rel, text in gen.files.items():
        old = existing.get(rel)
        if old is None:
            problems.append(f"pydal_lite/{rel}: missing")
        elif old != text:
            problems.extend(_describe_change(f"pydal_lite/{rel}", old, text))
    problems.extend(f"pydal_lite/{rel}: stale file" for rel in existing if rel not in gen.files)
    return problems


def _write(gen: Generated, out: Path) -> list[str]:
    existing = _existing(out)
    changed = []
    for rel, text in gen.files.items():
        if existing.get(rel) != text:
            path = out / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(f"wrote pydal_lite/{rel}")
    for rel in existing:
        if rel not in gen.files:
            (out / rel).unlink()
            changed.append(f"removed pydal_lite/{rel}")
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        resolved = resolve(args.dsn)
        if resolved.note:
            print(resolved.note, file=sys.stderr)
        gen = generate(resolved.dsn, queries_dir=args.queries_dir, schema_dir=args.schema_dir)
    except psycopg.OperationalError as exc:
        print(f"codegen: {connect_error(args.dsn or '', exc)}", file=sys.stderr)
        return 4
    except PydalError as exc:
        print(f"codegen: {exc}", file=sys.stderr)
        return 2
    except psycopg.Error as exc:  # e.g. no CREATEDB privilege for the scratch database
        message = exc.diag.message_primary or type(exc).__name__
        print(f"codegen: the server refused: {message}", file=sys.stderr)
        return 3
    for warning in gen.warnings:
        print(f"codegen: warning: {warning}", file=sys.stderr)
    count = sum(len(m) for m in gen.models.values())
    if args.check:
        problems = _compare(gen, args.out)
        for line in problems:
            print(f"stale: {line}", file=sys.stderr)
        if problems:
            print(
                "codegen: the generated code is stale: run python -m pydal_lite.codegen",
                file=sys.stderr,
            )
            return 1
        print(f"codegen: {count} queries in {len(gen.models)} files, generated code is current")
        return 0
    for line in _write(gen, args.out):
        print(line)
    print(f"codegen: {count} queries in {len(gen.models)} files")
    return 0

"""Describe every query file on a scratch database and render its Python."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from ..runtime.loader import read_folder
from .describe import describe, scratch_database
from .model import QueryModel, build
from .pgtypes import TypeInfo
from .render import PACKAGES, render_calls, render_package, render_steps

log = logging.getLogger("pydal_lite.codegen")

PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass
class Generated:
    """The generated files (path relative to the package folder -> text) and warnings."""

    files: dict[str, str] = field(default_factory=dict)
    models: dict[str, list[QueryModel]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def generate(
    dsn: str, *, queries_dir: Path | None = None, schema_dir: Path | None = None
) -> Generated:
    """Describe every named query on a scratch database on ``dsn``'s server."""
    folder = read_folder(queries_dir)
    out = Generated()
    with scratch_database(dsn, schema_dir) as conn:
        types = TypeInfo(conn)
        for file, queries in folder.items():
            out.models[file] = [build(describe(conn, q), types) for q in queries.values()]
        out.warnings = types.warnings
    files = sorted(out.models)
    for file in files:
        models = out.models[file]
        out.files[f"sql/{file}.py"] = render_steps(file, models)
        out.files[f"queries/{file}.py"] = render_calls(file, models, is_async=False)
        out.files[f"aqueries/{file}.py"] = render_calls(file, models, is_async=True)
    for package in PACKAGES:
        out.files[f"{package}/__init__.py"] = render_package(package, files)
    return out

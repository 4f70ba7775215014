"""Locate the schema/ and queries/ folders in a checkout or an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _find(name: str, env: str) -> Path:
    override = os.environ.get(env)
    if override:
        return Path(override)
    # A built wheel carries a copy inside the package (see setup.py); a checkout
    # (or editable install) keeps the folders at the top level for DBAs.
    if (_PACKAGE / "_sql" / name).is_dir():
        return _PACKAGE / "_sql" / name
    if (_PACKAGE.parent / "pyproject.toml").is_file() and (_PACKAGE.parent / name).is_dir():
        return _PACKAGE.parent / name
    raise FileNotFoundError(f"no {name}/ folder found next to or inside {str(_PACKAGE)!r}")


def schema_dir() -> Path:
    """The folder of migration files (``PYDAL_SCHEMA_DIR`` overrides)."""
    return _find("schema", "PYDAL_SCHEMA_DIR")


def queries_dir() -> Path:
    """The folder of named-query files (``PYDAL_QUERIES_DIR`` overrides)."""
    return _find("queries", "PYDAL_QUERIES_DIR")

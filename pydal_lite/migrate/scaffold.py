"""``new NAME``: write the next numbered skeleton into the project's migrations folder.

The folder is ``--schema-dir``, else ``$PYDAL_SCHEMA_DIR``, else ``./schema`` of the
current directory. Never a folder inside the installed package (site-packages): the
files there belong to the wheel, and the next upgrade would drop the new one.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import MigrationError
from ..resources import schema_dir as default_schema_dir
from .files import FILENAME

_PACKAGE = Path(__file__).resolve().parent.parent
NAME = re.compile(r"[a-z][a-z0-9_]*")


class ScaffoldRefused(MigrationError):
    """``new`` found no project folder to write into, or was pointed into the package."""


def target_dir(explicit: Path | None) -> Path:
    """Where ``new`` writes, or ScaffoldRefused saying why nowhere."""
    if explicit is not None:
        folder = explicit
    elif os.environ.get("PYDAL_SCHEMA_DIR"):
        folder = Path(os.environ["PYDAL_SCHEMA_DIR"])
    else:
        folder = Path.cwd() / "schema"
        if not folder.is_dir():
            raise ScaffoldRefused(
                f"no schema/ folder in the current directory ({Path.cwd()}): run new from "
                "the project's root, or name the migrations folder"
            )
    resolved = folder.resolve()
    if resolved.is_relative_to(_PACKAGE) or "site-packages" in resolved.parts:
        raise ScaffoldRefused(
            f"{str(folder)!r} is inside the installed package: a new migration belongs in "
            "your project's schema/ folder"
        )
    if not folder.is_dir():
        raise ScaffoldRefused(f"migrations folder {str(folder)!r} does not exist")
    return folder


def new_migration(folder: Path, name: str) -> Path:
    """Write ``NNNN_name.sql`` (the next number, same zero padding) into ``folder``."""
    if not NAME.fullmatch(name):
        raise ScaffoldRefused(
            f"migration name must be lowercase words joined by underscores, got {name!r}"
        )
    try:
        versions = [m["version"] for p in folder.iterdir() if (m := FILENAME.match(p.name))]
    except OSError as exc:
        raise ScaffoldRefused(f"cannot read {str(folder)!r}: {exc.strerror or exc}") from None
    width = max((len(v) for v in versions), default=4)
    number = max((int(v) for v in versions), default=0) + 1
    path = folder / f"{number:0{width}d}_{name}.sql"
    try:
        with path.open("x", encoding="utf-8") as f:
            f.write(
                f"-- {name.replace('_', ' ')}: say why this change exists.\n\n"
                "-- migrate:up\n\n\n"
                "-- migrate:down\n\n"
            )
    except OSError as exc:
        raise ScaffoldRefused(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    return path


def reads_elsewhere(folder: Path) -> Path | None:
    """The folder the other commands read by default, when it is not ``folder``."""
    try:
        default = default_schema_dir()
    except FileNotFoundError:
        return None
    return None if default.resolve() == folder.resolve() else default

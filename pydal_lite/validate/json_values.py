"""JSON arguments: what jsonb can store, and mappings for JSON objects."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, overload

from psycopg.types.json import Jsonb

from ..errors import InvalidInput
from .scalars import shown

# An escaped NUL in JSON text that is not itself an escaped backslash followed by "u0000".
_JSON_NUL: Final = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def json_text(value: object, what: str, *, canonical: bool = False) -> str:
    """``value`` as JSON text (non-ASCII kept), after checking that jsonb can store it.

    Refuses what ``json.dumps`` cannot encode (sets, bytes, objects, mixed-type keys),
    NaN and infinity, lone surrogates and NUL characters (in keys or strings).
    ``canonical=True`` sorts keys and drops spaces, so equal values give equal text.
    """
    try:
        if canonical:
            out = json.dumps(
                value, ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
            )
        else:
            out = json.dumps(value, ensure_ascii=False, allow_nan=False)
        out.encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidInput(f"{what} cannot be encoded as JSON ({exc}): {shown(value)}") from None
    if "\\u0000" in out and _JSON_NUL.search(out):
        raise InvalidInput(
            f"{what} contains a NUL character, which jsonb cannot store: {shown(value)}"
        )
    return out


def json_value(value: object, what: str) -> Jsonb:
    """``value`` wrapped for a jsonb parameter, after the checks of :func:`json_text`."""
    json_text(value, what)
    return Jsonb(value)


def mapping(value: object, what: str) -> Mapping[str, Any]:
    """A Mapping (a JSON object's Python shape); its contents are not checked."""
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{what} must be a JSON object (a mapping), got {shown(value)}")
    return value


@overload
def json_object(value: object, what: str, *, nullable: Literal[False] = ...) -> Jsonb: ...
@overload
def json_object(value: object, what: str, *, nullable: bool) -> Jsonb | None: ...
def json_object(value: object, what: str, *, nullable: bool = False) -> Jsonb | None:
    """A Mapping checked as :func:`json_value`, wrapped (as a dict) for a jsonb parameter."""
    if value is None and nullable:
        return None
    return json_value(dict(mapping(value, what)), what)

"""Input checks shared by the domain modules; each failure raises InvalidInput.

Every check takes the value and ``what`` (the parameter's name as the caller knows
it, e.g. ``"session_id"`` or ``"messages[3].content"``), returns the value to use and
raises :class:`~pydal_lite.errors.InvalidInput` with a message that names ``what``
and shows the offending value (``!r``, cut to :data:`SHOWN_CHARS` characters).
They check what PostgreSQL would refuse later (NUL characters, lone surrogates,
NaN in jsonb, integers wider than the column) so the caller hears about it before
any statement is sent.

Naive datetimes (no ``tzinfo``) follow one policy, here and in the SQLite importer:
they are read as wall time in the *naive-datetime zone*, by default what Python itself
means by a naive ``datetime.now()``: the machine's local zone. So the seed systems'
callers that pass ``datetime.now()`` or ``datetime.now().isoformat()`` store the instant
they meant. :func:`set_naive_timezone` changes the zone for the process (``"UTC"``, an
IANA name such as ``"Europe/Moscow"``, a ``tzinfo``, ``"local"``), or refuses naive
values with ``None``; the environment variable ``PYDAL_NAIVE_TIMEZONE`` sets the
starting value (same spellings, ``refuse`` for None). An ambiguous wall time (the hour
a DST change repeats) is read as its first occurrence.
"""

from .json_values import json_object, json_text, json_value, mapping
from .scalars import SHOWN_CHARS, integer, iterable, number, one_of, shown, text, uuid_value
from .times import (
    LOCAL,
    NaiveZone,
    aware_datetime,
    naive_timezone,
    naive_timezone_as,
    read_naive,
    set_naive_timezone,
    zone_name,
    zone_of,
)

__all__ = [
    "LOCAL",
    "SHOWN_CHARS",
    "NaiveZone",
    "aware_datetime",
    "integer",
    "iterable",
    "json_object",
    "json_text",
    "json_value",
    "mapping",
    "naive_timezone",
    "naive_timezone_as",
    "number",
    "one_of",
    "read_naive",
    "set_naive_timezone",
    "shown",
    "text",
    "uuid_value",
    "zone_name",
    "zone_of",
]

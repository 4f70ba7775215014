"""What runs the named queries: the loader, typed steps and operations.

- :mod:`.loader`: reads ``queries/*.sql`` with aiosql (the SQL, its suffix and line);
- :mod:`.steps`: :class:`Step` (one query call, typed by the generated code),
  :class:`CopyIn`, and how each runs on a sync or async connection;
- :mod:`.operations`: :func:`operation`, one generator of steps run sync or async.
"""

from .operations import Operation, operation
from .steps import CopyIn, JsonParam, JsonValue, Query, Step, Steps, arun, present, run

__all__ = [
    "CopyIn",
    "JsonParam",
    "JsonValue",
    "Operation",
    "Query",
    "Step",
    "Steps",
    "arun",
    "operation",
    "present",
    "run",
]
